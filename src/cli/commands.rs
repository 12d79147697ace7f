//! focus-map, segment and eval.

use super::outputs::{
    bar, check_distinct_outputs, commit_all, for_each_input, output_for, progress_of,
};
use super::{EvalArgs, FocusMapArgs, SegmentArgs};
use infocus::io::{read_stack, stage_tiff, write_tiff};
use infocus::products::{all_in_focus, in_focus};
use infocus::segment::preset_map;
use infocus::{Error, Result, StackView};
use ndarray::Axis;
use std::path::Path;

pub(crate) fn focus_map(a: &FocusMapArgs) -> Result<()> {
    let params = a.method.params()?;
    let many = a.inputs.len() > 1;
    check_distinct_outputs(&a.output, &a.inputs)?;
    for_each_input(&a.inputs, |input| {
        if super::stream::streams(input, &params) {
            return super::stream::focus_map(a, input, &params, many);
        }
        let out = output_for(&a.output, input, many)?;
        let (stack, cal) = read_stack(input)?;
        let bar = bar(stack.dim().0 as u64, "focus map");
        let map = preset_map(stack.view(), &params, &progress_of(&bar))?;
        bar.finish_and_clear();
        write_tiff(&out, StackView::F32(map.view()), &cal)
    })
}

pub(crate) fn segment(a: &SegmentArgs) -> Result<()> {
    let method = a.method()?;
    let many = a.inputs.len() > 1;
    check_distinct_outputs(&a.output, &a.inputs)?;
    // The paper preset maps slice by slice: TIFF inputs are streamed.
    let rule = (!a.how.trim().eq_ignore_ascii_case("unet"))
        .then(|| a.params())
        .transpose()?;
    for_each_input(&a.inputs, |input| {
        if let Some(params) = rule.as_ref().filter(|p| super::stream::streams(input, p)) {
            return super::stream::segment(a, input, params, many);
        }
        let (stack, cal) = read_stack(input)?;
        let bar = bar(stack.dim().0 as u64, "segment");
        let seg = method.segment(stack.view(), &progress_of(&bar))?;
        bar.finish_and_clear();
        // Every output is staged first and committed only when all were
        // written: a failure leaves none of them behind.
        let extra = |flag: &Option<std::path::PathBuf>| {
            flag.as_deref()
                .map(|p| output_for(p, input, many))
                .transpose()
        };
        let mut staged = vec![stage_tiff(
            &output_for(&a.output, input, many)?,
            StackView::U8(seg.mask.view()),
            &cal,
        )?];
        if let Some(p) = extra(&a.focus_map)? {
            staged.push(stage_tiff(&p, StackView::F32(seg.map.view()), &cal)?);
        }
        if let Some(p) = extra(&a.in_focus)? {
            staged.push(stage_tiff(
                &p,
                in_focus(stack.view(), seg.mask.view())?.view(),
                &cal,
            )?);
        }
        if let Some(p) = extra(&a.depth)? {
            staged.push(stage_tiff(
                &p,
                StackView::U16(seg.depth.view().insert_axis(Axis(0))),
                &cal,
            )?);
        }
        if let Some(p) = extra(&a.all_in_focus)? {
            staged.push(stage_tiff(
                &p,
                all_in_focus(stack.view(), &seg.depth)?.view(),
                &cal,
            )?);
        }
        commit_all(staged)
    })
}

/// Reads a mask stack: any integer or float TIFF/npy, nonzero = set.
pub(crate) fn read_mask(path: &Path) -> Result<ndarray::Array3<u8>> {
    let (stack, _) = read_stack(path)?;
    let v = stack.view();
    let (z, h, w) = v.dim();
    Ok(ndarray::Array3::from_shape_fn((z, h, w), |(k, y, x)| {
        u8::from(v.get_f64(k, y, x) != 0.0) * 255
    }))
}

pub(crate) fn eval(a: &EvalArgs) -> Result<()> {
    let pred = read_mask(&a.pred)?;
    let truth = read_mask(&a.truth)?;
    let ev = infocus::eval::evaluate(pred.view(), truth.view()).map_err(|e| match e {
        Error::InvalidArgument(m) => Error::invalid(format!(
            "{} vs {}: {m}",
            a.pred.display(),
            a.truth.display()
        )),
        other => other,
    })?;
    if a.json {
        println!("{}", ev.to_json());
    } else {
        print!("{ev}");
    }
    Ok(())
}
