//! The `paper` preset on TIFF stacks larger than memory: slice by slice.
//!
//! The paper preset's map is computed slice by slice, so the tool reads a
//! few pages at a time (as many as there are threads), maps them and keeps
//! only what the outputs need:
//!
//! 1. map pass: each batch of pages is mapped; the map slices are kept
//!    ([`MapStore`]: in memory up to [`MEMORY_BUDGET`]; past it in an
//!    unlinked temporary file when a focus map is to be written, else not
//!    at all: computing a slice's map again costs less than writing and
//!    reading it), and the running maximum over Z gives the depth map and
//!    the all-in-focus image on the way;
//! 2. level: Otsu over the whole stack needs the map's min and max before
//!    its histogram, so the histogram is a second pass over the map
//!    ([`OtsuHistogram`]); a level per slice or a fixed level needs none;
//! 3. outputs: every TIFF is written page by page from the map (and, for
//!    the in-focus stack, the input read again), staged and committed
//!    together as in memory.
//!
//! Peak memory is the budget plus a few slices, whatever the number of slices. The outputs
//! are byte for byte those of the in-memory path (tests/cli_stream.rs).

use super::outputs::{bar, commit_all, interrupted, output_for};
use super::{FocusMapArgs, SegmentArgs};
use indicatif::ProgressBar;
use infocus::io::{Calibration, TiffPages, open_tiff_pages, stage_tiff, stage_tiff_pages};
use infocus::map::{MapParams, focus_map_into};
use infocus::measure::Measure;
use infocus::segment::{Preset, SegmentParams};
use infocus::threshold::{OtsuHistogram, Threshold, otsu_level};
use infocus::{Error, PixelType, Progress, Result, Stack, StackView};
use ndarray::{Array2, Array3, Axis};
use std::fs::File;
use std::path::Path;

/// Map bytes kept in memory before the map spills to a temporary file
/// (`INFOCUS_STREAM_BUDGET` bytes when set, for tests).
const MEMORY_BUDGET: usize = 256 << 20;

fn memory_budget() -> usize {
    let budget = std::env::var("INFOCUS_STREAM_BUDGET")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(MEMORY_BUDGET);
    // Never more than a quarter of what this process may still take
    // (memory, or the address space left under `ulimit -v`).
    infocus::limits::available().map_or(budget, |(avail, _)| {
        budget.min(usize::try_from(avail / 4).unwrap_or(usize::MAX))
    })
}

/// Refuses, with a message rather than an allocator abort, a pass whose
/// working set cannot fit: a batch of input pages and their maps, the
/// best-focus planes and a page being written.
fn check_working_set(input: &Path, pixel_type: PixelType, h: usize, w: usize, batch: usize) -> Result<()> {
    let px = match pixel_type {
        PixelType::U8 => 1,
        PixelType::U16 => 2,
        PixelType::F32 => 4,
    };
    let per_pixel = batch * (px + 4) + 4 + 2 + 4 + 2 * px;
    let bytes = infocus::limits::bytes_of(&[h, w], per_pixel);
    let what = format!(
        "{}: streaming its {h} x {w} pages {batch} at a time",
        input.display()
    );
    infocus::limits::check(bytes, &what).map_err(Error::invalid)
}

/// Whether `input` is segmented slice by slice: the paper preset (whose map
/// is per slice) on a TIFF file. `INFOCUS_NO_STREAM=1` turns it off.
pub(crate) fn streams(input: &Path, params: &SegmentParams) -> bool {
    let tiff = input
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("tif") || e.eq_ignore_ascii_case("tiff"));
    tiff && params.preset == Preset::Paper && std::env::var_os("INFOCUS_NO_STREAM").is_none()
}

/// `infocus focus-map` for one input, slice by slice.
pub(crate) fn focus_map(
    a: &FocusMapArgs,
    input: &Path,
    params: &SegmentParams,
    many: bool,
) -> Result<()> {
    let out = output_for(&a.output, input, many)?;
    let pass = map_pass(input, &params.map, &out, false, true)?;
    let staged = stage_map(&out, &pass)?;
    commit_all(vec![staged])
}

/// `infocus segment` (rule method, paper preset) for one input, slice by slice.
pub(crate) fn segment(
    a: &SegmentArgs,
    input: &Path,
    params: &SegmentParams,
    many: bool,
) -> Result<()> {
    let out = output_for(&a.output, input, many)?;
    let extra = |flag: &Option<std::path::PathBuf>| {
        flag.as_deref()
            .map(|p| output_for(p, input, many))
            .transpose()
    };
    let (map_out, in_focus_out, depth_out, aif_out) = (
        extra(&a.focus_map)?,
        extra(&a.in_focus)?,
        extra(&a.depth)?,
        extra(&a.all_in_focus)?,
    );
    let pass = map_pass(
        input,
        &params.map,
        &out,
        aif_out.is_some(),
        map_out.is_some(),
    )?;
    let (z, h, w) = pass.dim;
    let t = params.threshold.unwrap_or(Threshold::OtsuStack);
    let level = match t {
        Threshold::Fixed(v) => Some(v),
        Threshold::OtsuSlice => None,
        Threshold::OtsuStack => {
            let (lo, hi) = pass.range;
            let mut hist = OtsuHistogram::new(lo, hi, 256);
            let mut r = Reader::new(&pass, input, &params.map);
            for k in 0..z {
                hist.add(r.map(k)?);
            }
            Some(hist.level())
        }
    };
    // The mask of slice k.
    let mask_of = |r: &mut Reader, k: usize| -> Result<Array3<u8>> {
        let map = r.map(k)?;
        let lvl = level.unwrap_or_else(|| otsu_level(map, 256));
        let m: Vec<u8> = map.iter().map(|&v| if v > lvl { 255 } else { 0 }).collect();
        Ok(Array3::from_shape_vec((1, h, w), m).expect("one slice"))
    };
    let cal = &pass.cal;
    let mut r = Reader::new(&pass, input, &params.map);
    let mut staged = vec![stage_tiff_pages(
        &out,
        PixelType::U8,
        pass.dim,
        cal,
        None,
        |k| Ok(Stack::U8(mask_of(&mut r, k)?)),
    )?];
    if let Some(p) = &map_out {
        staged.push(stage_map(p, &pass)?);
    }
    if let Some(p) = &in_focus_out {
        // Slice k of the in-focus stack; the input is read once more.
        let in_focus = |r: &mut Reader, k: usize| -> Result<Stack> {
            let mask = mask_of(r, k)?;
            let slice = r.input(k)?;
            infocus::products::in_focus(slice.view(), mask.view())
        };
        // A float stack's TIFF records its range, known only after one more pass.
        let range = if pass.pixel_type == PixelType::F32 {
            let mut r = Reader::new(&pass, input, &params.map);
            let mut range: Option<(f32, f32)> = None;
            for k in 0..z {
                if let Stack::F32(s) = in_focus(&mut r, k)? {
                    for &v in s.iter().filter(|v| v.is_finite()) {
                        let (l, u) = range.unwrap_or((v, v));
                        range = Some((l.min(v), u.max(v)));
                    }
                }
            }
            range
        } else {
            None
        };
        let mut r = Reader::new(&pass, input, &params.map);
        staged.push(stage_tiff_pages(
            p,
            pass.pixel_type,
            pass.dim,
            cal,
            range,
            |k| in_focus(&mut r, k),
        )?);
    }
    if let Some(p) = &depth_out {
        staged.push(stage_tiff(
            p,
            StackView::U16(pass.depth.view().insert_axis(Axis(0))),
            cal,
        )?);
    }
    if let (Some(p), Some(aif)) = (&aif_out, &pass.aif) {
        staged.push(stage_tiff(p, aif.view(), cal)?);
    }
    commit_all(staged)
}

/// Map and input slices in order (slice numbers never go down), from the
/// stored map, or computed again from the input when the map was not kept.
struct Reader<'a> {
    pass: &'a MapPass,
    input: &'a Path,
    params: &'a MapParams,
    pages: Option<TiffPages>,
    /// The current batch of input slices, its maps (when computed), and
    /// the number of its first slice.
    part: Option<Stack>,
    maps: Vec<f32>,
    start: usize,
    /// A slice read from the temporary map.
    buf: Vec<f32>,
}

impl<'a> Reader<'a> {
    fn new(pass: &'a MapPass, input: &'a Path, params: &'a MapParams) -> Self {
        Reader {
            pass,
            input,
            params,
            pages: None,
            part: None,
            maps: Vec::new(),
            start: 0,
            buf: Vec::new(),
        }
    }

    /// Makes slice `k` part of the current batch.
    fn reach(&mut self, k: usize) -> Result<()> {
        let (_, h, w) = self.pass.dim;
        while self
            .part
            .as_ref()
            .is_none_or(|p| k >= self.start + p.dim().0)
        {
            cancelled()?;
            if self.pages.is_none() {
                self.pages = Some(open_tiff_pages(self.input)?);
            }
            let pages = self.pages.as_mut().expect("opened above");
            let done = self.part.as_ref().map_or(0, |p| self.start + p.dim().0);
            let part = pages.next_slices(batch())?.ok_or_else(|| {
                Error::Internal(format!(
                    "{} changed while it was read",
                    self.input.display()
                ))
            })?;
            if matches!(self.pass.map, MapStore::Recompute) {
                // One buffer for every batch: no fresh pages to fault in.
                let zb = part.dim().0;
                self.maps.resize(zb * h * w, 0.0);
                let m = ndarray::ArrayViewMut3::from_shape((zb, h, w), &mut self.maps[..])
                    .expect("sized above");
                focus_map_into(
                    part.view(),
                    self.pass.input_range,
                    self.params,
                    &Progress::none(),
                    m,
                )?;
            }
            self.part = Some(part);
            self.start = done;
        }
        Ok(())
    }

    /// Map slice `k`.
    fn map(&mut self, k: usize) -> Result<&[f32]> {
        cancelled()?;
        let (_, h, w) = self.pass.dim;
        let n = h * w;
        match &self.pass.map {
            MapStore::Memory { v, .. } => Ok(&v[k * n..(k + 1) * n]),
            MapStore::File(_) => {
                self.pass.map.slice(k, n, &mut self.buf)?;
                Ok(&self.buf)
            }
            MapStore::Recompute => {
                self.reach(k)?;
                let j = k - self.start;
                Ok(&self.maps[j * n..(j + 1) * n])
            }
        }
    }

    /// Input slice `k` (1 x H x W).
    fn input(&mut self, k: usize) -> Result<Stack> {
        self.reach(k)?;
        let j = k - self.start;
        let s = ndarray::s![j..j + 1, .., ..];
        Ok(match self.part.as_ref().expect("reached").view() {
            StackView::U8(a) => Stack::U8(a.slice(s).to_owned()),
            StackView::U16(a) => Stack::U16(a.slice(s).to_owned()),
            StackView::F32(a) => Stack::F32(a.slice(s).to_owned()),
        })
    }
}

/// Slices per batch: one per thread.
fn batch() -> usize {
    rayon::current_num_threads().max(1)
}

/// Writes the stored map as an f32 TIFF.
fn stage_map(path: &Path, pass: &MapPass) -> Result<infocus::io::Staged> {
    let (_, h, w) = pass.dim;
    let mut buf = Vec::new();
    stage_tiff_pages(
        path,
        PixelType::F32,
        pass.dim,
        &pass.cal,
        Some(pass.range),
        |k| {
            cancelled()?;
            pass.map.slice(k, h * w, &mut buf)?;
            Ok(Stack::F32(
                Array3::from_shape_vec((1, h, w), std::mem::take(&mut buf)).expect("one slice"),
            ))
        },
    )
}

fn cancelled() -> Result<()> {
    if interrupted() {
        Err(Error::Cancelled)
    } else {
        Ok(())
    }
}

/// What the map pass keeps.
struct MapPass {
    dim: (usize, usize, usize),
    pixel_type: PixelType,
    cal: Calibration,
    map: MapStore,
    /// The map's (min, max).
    range: (f32, f32),
    /// What `focus_map_into` needs of the whole input (entropy's bins).
    input_range: (f64, f64),
    /// Best-focus slice per pixel (the lowest on ties).
    depth: Array2<u16>,
    /// The all-in-focus image (1 x H x W), when asked for.
    aif: Option<Stack>,
}

/// Maps every slice of `input`. The map is kept in memory up to the
/// budget; past it, it is stored in a temporary file next to `out` when
/// `keep` (a focus map will be written), else dropped and computed again
/// from the input when needed.
fn map_pass(
    input: &Path,
    params: &MapParams,
    out: &Path,
    want_aif: bool,
    keep: bool,
) -> Result<MapPass> {
    params.validate()?;
    let mut pages = open_tiff_pages(input)?;
    let (h, w) = pages.size();
    let pixel_type = pages.pixel_type();
    // Entropy bins u16 and f32 stacks over the whole stack's range: one
    // more pass over the input to find it.
    let range = if params.measure == Measure::Entropy && pixel_type != PixelType::U8 {
        input_range(input)?
    } else {
        (0.0, 0.0)
    };
    let batch = batch();
    check_working_set(input, pixel_type, h, w, batch)?;
    let bar = bar(pages.len_hint().unwrap_or(0) as u64, "focus map");
    let mut map = MapStore::new(out, keep);
    let (mut lo, mut hi) = (f32::INFINITY, f32::NEG_INFINITY);
    let mut best = vec![0f32; h * w];
    let mut depth = vec![0u16; h * w];
    let mut aif: Option<Stack> = None;
    let mut z = 0usize;
    // One map buffer for every batch: no fresh pages to fault in.
    let mut maps: Vec<f32> = Vec::new();
    while let Some(part) = next(&mut pages, batch, z)? {
        let zb = part.dim().0;
        maps.resize(zb * h * w, 0.0);
        let m = ndarray::ArrayViewMut3::from_shape((zb, h, w), &mut maps[..]).expect("sized above");
        focus_map_into(part.view(), range, params, &progress(&bar, z), m)?;
        let values = &maps[..];
        for (j, s) in values.chunks_exact(h * w).enumerate() {
            let k = z + j;
            if k > usize::from(u16::MAX) {
                return Err(Error::invalid(format!(
                    "a depth map needs 1 to 65536 slices, not more than {k}"
                )));
            }
            // Range and finiteness in one pass.
            let (l, u, finite) = s.iter().fold((lo, hi, true), |(lo, hi, ok), &v| {
                (lo.min(v), hi.max(v), ok & v.is_finite())
            });
            if !finite {
                let v = s
                    .iter()
                    .find(|v| !v.is_finite())
                    .expect("one is not finite");
                return Err(Error::invalid(format!(
                    "focus map holds a non-finite value {v}"
                )));
            }
            (lo, hi) = (l, u);
            let img = part.view();
            if k == 0 {
                best.copy_from_slice(s);
                if want_aif {
                    aif = Some(first_slice(img));
                }
            } else {
                track_best(&mut best, &mut depth, s, k as u16, aif.as_mut(), img, j);
            }
        }
        map.push(values)?;
        z += zb;
        bar.set_position(z as u64);
    }
    bar.finish_and_clear();
    Ok(MapPass {
        dim: (z, h, w),
        pixel_type,
        cal: pages.calibration().clone(),
        map,
        range: (lo, hi),
        input_range: range,
        depth: Array2::from_shape_vec((h, w), depth).expect("h x w"),
        aif,
    })
}

/// The next batch of slices, checked as `StackView::validate` would check
/// the whole stack (`z0` slices came before).
fn next(pages: &mut TiffPages, batch: usize, z0: usize) -> Result<Option<Stack>> {
    cancelled()?;
    let part = pages.next_slices(batch)?;
    if let Some(Stack::F32(a)) = &part {
        if let Some((idx, v)) = a.indexed_iter().find(|(_, v)| !v.is_finite()) {
            return Err(Error::invalid(format!(
                "stack has a non-finite value {v} at (z={}, y={}, x={}); replace NaN/Inf before computing focus",
                z0 + idx.0,
                idx.1,
                idx.2
            )));
        }
    }
    Ok(part)
}

/// The (min, max) of the whole input, read once more.
fn input_range(input: &Path) -> Result<(f64, f64)> {
    let mut pages = open_tiff_pages(input)?;
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    let mut z = 0;
    while let Some(part) = next(&mut pages, 4, z)? {
        let (l, u) = part.view().min_max();
        (lo, hi) = (lo.min(l), hi.max(u));
        z += part.dim().0;
    }
    Ok((lo, hi))
}

fn progress(bar: &ProgressBar, z0: usize) -> Progress<'_> {
    Progress::new(move |done, _| {
        bar.set_position((z0 as u64) + done);
        !interrupted()
    })
}

/// Slice 0 of `img` as a 1-slice stack.
fn first_slice(img: StackView) -> Stack {
    match img {
        StackView::U8(a) => Stack::U8(a.slice(ndarray::s![0..1, .., ..]).to_owned()),
        StackView::U16(a) => Stack::U16(a.slice(ndarray::s![0..1, .., ..]).to_owned()),
        StackView::F32(a) => Stack::F32(a.slice(ndarray::s![0..1, .., ..]).to_owned()),
    }
}

/// Moves the running maximum over Z on by slice `k` (map `s`, image slice
/// `j` of `img`): where `s` is strictly above the best so far, `k` becomes
/// the depth and the image's pixel the all-in-focus pixel, as
/// `products::depth_map` and `products::all_in_focus` decide.
fn track_best(
    best: &mut [f32],
    depth: &mut [u16],
    s: &[f32],
    k: u16,
    aif: Option<&mut Stack>,
    img: StackView,
    j: usize,
) {
    fn go<T: Copy>(
        best: &mut [f32],
        depth: &mut [u16],
        s: &[f32],
        k: u16,
        aif: Option<&mut [T]>,
        img: &[T],
    ) {
        // Selects rather than branches: the loops vectorise.
        match aif {
            Some(a) => {
                for (((b, d), (&v, a)), &p) in best
                    .iter_mut()
                    .zip(depth.iter_mut())
                    .zip(s.iter().zip(a))
                    .zip(img)
                {
                    let gt = v > *b;
                    *b = if gt { v } else { *b };
                    *d = if gt { k } else { *d };
                    *a = if gt { p } else { *a };
                }
            }
            None => {
                for ((b, d), &v) in best.iter_mut().zip(depth.iter_mut()).zip(s) {
                    let gt = v > *b;
                    *b = if gt { v } else { *b };
                    *d = if gt { k } else { *d };
                }
            }
        }
    }
    let n = s.len();
    macro_rules! pick {
        ($a:expr, $var:ident) => {{
            let img = &$a.as_slice().expect("standard layout")[j * n..(j + 1) * n];
            let aif = match aif {
                Some(Stack::$var(t)) => Some(t.as_slice_mut().expect("standard layout")),
                _ => None,
            };
            go(best, depth, s, k, aif, img)
        }};
    }
    match img {
        StackView::U8(a) => pick!(a, U8),
        StackView::U16(a) => pick!(a, U16),
        StackView::F32(a) => pick!(a, F32),
    }
}

/// The map, slice after slice: in memory while small; past the budget, in
/// a temporary file next to the output (removed from the directory as soon
/// as it is created, so nothing is left behind whatever happens), or not
/// kept at all (computed again when needed, cheaper than writing it out).
enum MapStore {
    Memory {
        v: Vec<f32>,
        dir: std::path::PathBuf,
        keep: bool,
    },
    File(File),
    Recompute,
}

impl MapStore {
    fn new(out: &Path, keep: bool) -> Self {
        let dir = match out.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => std::path::PathBuf::from("."),
        };
        MapStore::Memory {
            v: Vec::new(),
            dir,
            keep,
        }
    }

    fn push(&mut self, values: &[f32]) -> Result<()> {
        if let MapStore::Memory { v, dir, keep } = self {
            if (v.len() + values.len()) * 4 <= memory_budget() {
                v.extend_from_slice(values);
                return Ok(());
            }
            if !*keep {
                *self = MapStore::Recompute;
                return Ok(());
            }
            let mut f = temporary(dir)?;
            write_f32(&mut f, v, dir)?;
            *self = MapStore::File(f);
        }
        match self {
            MapStore::File(f) => write_f32(f, values, Path::new("the temporary map")),
            MapStore::Recompute => Ok(()),
            MapStore::Memory { .. } => unreachable!("spilled above"),
        }
    }

    /// Slice `k` (`n` values) into `buf` (not for `Recompute`).
    fn slice(&self, k: usize, n: usize, buf: &mut Vec<f32>) -> Result<()> {
        buf.clear();
        match self {
            MapStore::Memory { v, .. } => buf.extend_from_slice(&v[k * n..(k + 1) * n]),
            MapStore::File(f) => {
                use std::os::unix::fs::FileExt;
                buf.resize(n, 0.0);
                // SAFETY: f32 has no padding and every bit pattern is a valid
                // f32, so its storage may be filled as bytes.
                let bytes =
                    unsafe { std::slice::from_raw_parts_mut(buf.as_mut_ptr().cast::<u8>(), n * 4) };
                f.read_exact_at(bytes, (k * n * 4) as u64)
                    .map_err(|e| Error::io(Path::new("the temporary map"), e))?;
            }
            MapStore::Recompute => {
                return Err(Error::Internal("the map was not kept".into()));
            }
        }
        Ok(())
    }
}

/// A new temporary file in `dir`, already unlinked.
fn temporary(dir: &Path) -> Result<File> {
    static COUNT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = COUNT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let path = dir.join(format!(".infocus-map.{}.{n}.tmp", std::process::id()));
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(|e| Error::io(&path, e))?;
    std::fs::remove_file(&path).map_err(|e| Error::io(&path, e))?;
    Ok(f)
}

fn write_f32(f: &mut File, values: &[f32], what: &Path) -> Result<()> {
    use std::io::Write;
    // SAFETY: f32 has no padding; its bytes are read as they lie.
    let bytes =
        unsafe { std::slice::from_raw_parts(values.as_ptr().cast::<u8>(), values.len() * 4) };
    f.write_all(bytes).map_err(|e| Error::io(what, e))
}
