//! What a microscopist takes home: the in-focus stack, the depth map and
//! the all-in-focus image.

use crate::error::{Error, Result};
use crate::stack::{Stack, StackView};
use ndarray::{Array2, Array3, ArrayView3, Axis, Zip};

fn same_shape(what: &str, a: (usize, usize, usize), b: (usize, usize, usize)) -> Result<()> {
    if a == b {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "{what} has shape {} x {} x {} but the stack is {} x {} x {}",
            a.0, a.1, a.2, b.0, b.1, b.2
        )))
    }
}

/// The stack where the mask is set, 0 elsewhere: optical sections.
pub fn in_focus(stack: StackView, mask: ArrayView3<u8>) -> Result<Stack> {
    same_shape("the mask", mask.dim(), stack.dim())?;
    fn keep<T: Copy + Default>(a: ArrayView3<T>, m: ArrayView3<u8>) -> Array3<T> {
        Zip::from(a)
            .and(m)
            .map_collect(|&v, &k| if k != 0 { v } else { T::default() })
    }
    Ok(match stack {
        StackView::U8(a) => Stack::U8(keep(a, mask)),
        StackView::U16(a) => Stack::U16(keep(a, mask)),
        StackView::F32(a) => Stack::F32(keep(a, mask)),
    })
}

/// Index of the best-focused slice per pixel: the argmax of the focus map
/// over Z (the lowest index on ties).
pub fn depth_map(map: ArrayView3<f32>) -> Result<Array2<u16>> {
    let z = map.len_of(Axis(0));
    if z == 0 || z > usize::from(u16::MAX) + 1 {
        return Err(Error::invalid(format!(
            "a depth map needs 1 to 65536 slices, not {z}"
        )));
    }
    let mut best = map.index_axis(Axis(0), 0).to_owned();
    let mut depth = Array2::<u16>::zeros(best.raw_dim());
    for (k, s) in map.axis_iter(Axis(0)).enumerate().skip(1) {
        Zip::from(&mut best)
            .and(&mut depth)
            .and(s)
            .for_each(|b, d, &v| {
                if v > *b {
                    *b = v;
                    *d = k as u16;
                }
            });
    }
    Ok(depth)
}

/// The all-in-focus image: every pixel from its best slice (as a 1-slice stack).
pub fn all_in_focus(stack: StackView, depth: &Array2<u16>) -> Result<Stack> {
    let (z, h, w) = stack.dim();
    same_shape(
        "the depth map",
        (z, depth.nrows(), depth.ncols()),
        (z, h, w),
    )?;
    if let Some(&d) = depth.iter().find(|&&d| usize::from(d) >= z) {
        return Err(Error::invalid(format!(
            "depth map refers to slice {d} of a {z}-slice stack"
        )));
    }
    fn pick<T: Copy>(a: ArrayView3<T>, depth: &Array2<u16>) -> Array3<T> {
        Array2::from_shape_fn(depth.raw_dim(), |(y, x)| {
            a[[usize::from(depth[(y, x)]), y, x]]
        })
        .insert_axis(Axis(0))
    }
    Ok(match stack {
        StackView::U8(a) => Stack::U8(pick(a, depth)),
        StackView::U16(a) => Stack::U16(pick(a, depth)),
        StackView::F32(a) => Stack::F32(pick(a, depth)),
    })
}
