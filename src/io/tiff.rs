//! TIFF stacks, the format microscopes, Fiji and tifffile all speak.
//!
//! Reading goes through the `tiff` crate, page by page, after checking each
//! page's tags ourselves: the crate's own errors speak of photometric
//! interpretations and sample formats, while the person at the microscope
//! needs to hear "page 3 is RGB colour". ImageJ hyperstacks are recognised from
//! their ImageDescription, and one with several channels or time points is
//! refused rather than read as one tall Z-stack, which would mix channels into
//! "focal planes"; [`read_tiff_hyperstack`] picks one channel and time point.
//!
//! Writing is done by hand instead of through the crate's encoder, because
//! ImageJ reads a stack whose description says `images=N` as N pages of pixel
//! data laid end to end after the first page's offset, ignoring the other
//! page directories. The crate interleaves data and directories, which ImageJ
//! would read as garbage, so here all pixel data is written contiguously, as
//! ImageJ itself does, with every page directory after it. The output depends
//! only on the input (no dates, no software versions), so the same stack
//! always gives the same bytes.

use super::Calibration;
use super::atomic::{Staged, stage, write_err};
use crate::error::{Error, Result};
use crate::stack::{PixelType, Stack, StackView};
use ndarray::{Array3, Axis};
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom, Write};
use std::path::Path;
use tiff::decoder::{Decoder, DecodingResult, Limits};
use tiff::tags::Tag;
use tiff::{TiffError, TiffFormatError};

/// Largest single page the reader will decode, in bytes. Large enough for any
/// camera; small enough that a corrupt header cannot ask for absurd memory.
const MAX_PAGE_BYTES: usize = 1 << 31;

/// Reads a multi-page TIFF (or ImageJ TIFF) as a Z-stack, one page per slice.
///
/// Pages must all be single-sample grey of one size and one type: u8, u16 or
/// f32 as stored, or converted without loss (f16 to f32, signed or 32/64-bit
/// integers to u8/u16 when every value fits). A single-page TIFF gives Z = 1.
/// An ImageJ hyperstack with several channels or time points is refused; use
/// [`read_tiff_hyperstack`] for it.
pub fn read_tiff(path: &Path) -> Result<(Stack, Calibration)> {
    read_impl(path, None)
}

/// Reads the Z-stack of one channel and one time point (both 0-based) of an
/// ImageJ hyperstack. Any other TIFF counts as 1 channel x 1 frame.
pub fn read_tiff_hyperstack(
    path: &Path,
    channel: usize,
    frame: usize,
) -> Result<(Stack, Calibration)> {
    read_impl(path, Some((channel, frame)))
}

/// Writes a stack as an uncompressed multi-page TIFF that Fiji opens as a
/// Z-stack of the right depth and calibration (ImageJ description and
/// X/YResolution), atomically. The same input always gives the same bytes.
pub fn write_tiff(path: &Path, stack: StackView<'_>, cal: &Calibration) -> Result<()> {
    stage_tiff(path, stack, cal)?.commit()
}

/// Writes the TIFF of [`write_tiff`] to a staged temporary file, for commands
/// that commit several outputs together.
pub fn stage_tiff(path: &Path, stack: StackView<'_>, cal: &Calibration) -> Result<Staged> {
    write_tiff_impl(path, stack, cal, u64::from(u32::MAX))
}

// ---------------------------------------------------------------------------
// Reading

/// How samples are stored in a page, before any conversion.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Sample {
    U8,
    U16,
    U32,
    U64,
    I8,
    I16,
    I32,
    I64,
    F16,
    F32,
}

impl Sample {
    fn describe(self) -> &'static str {
        match self {
            Sample::U8 => "8-bit unsigned integer",
            Sample::U16 => "16-bit unsigned integer",
            Sample::U32 => "32-bit unsigned integer",
            Sample::U64 => "64-bit unsigned integer",
            Sample::I8 => "8-bit signed integer",
            Sample::I16 => "16-bit signed integer",
            Sample::I32 => "32-bit signed integer",
            Sample::I64 => "64-bit signed integer",
            Sample::F16 => "16-bit float",
            Sample::F32 => "32-bit float",
        }
    }

    /// The stack type this sample type is read into.
    fn target(self) -> PixelType {
        match self {
            Sample::U8 | Sample::I8 => PixelType::U8,
            Sample::F16 | Sample::F32 => PixelType::F32,
            _ => PixelType::U16,
        }
    }

    fn bytes(self) -> usize {
        match self {
            Sample::U8 | Sample::I8 => 1,
            Sample::U16 | Sample::I16 | Sample::F16 => 2,
            Sample::U32 | Sample::I32 | Sample::F32 => 4,
            Sample::U64 | Sample::I64 => 8,
        }
    }
}

/// What a page holds, as far as the reader cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct PageInfo {
    width: u32,
    height: u32,
    sample: Sample,
}

/// The parts of an ImageJ ImageDescription that shape and calibrate a stack.
#[derive(Clone, Debug, Default, PartialEq)]
struct ImageJMeta {
    images: Option<usize>,
    channels: Option<usize>,
    slices: Option<usize>,
    frames: Option<usize>,
    spacing: Option<f64>,
    unit: Option<String>,
}

impl ImageJMeta {
    /// Parses a description written by ImageJ (or tifffile in ImageJ mode);
    /// `None` for any other description.
    fn parse(desc: &str) -> Option<ImageJMeta> {
        if !desc.starts_with("ImageJ=") {
            return None;
        }
        let mut m = ImageJMeta::default();
        for line in desc.lines() {
            let Some((key, value)) = line.split_once('=') else {
                continue;
            };
            let value = value.trim().trim_end_matches('\0');
            let count = || value.parse::<usize>().ok();
            match key.trim() {
                "images" => m.images = count(),
                "channels" => m.channels = count(),
                "slices" => m.slices = count(),
                "frames" => m.frames = count(),
                "spacing" => {
                    m.spacing = value
                        .parse::<f64>()
                        .ok()
                        .filter(|s| s.is_finite() && *s > 0.0)
                }
                "unit" => m.unit = Some(normalize_unit(&unescape_unit(value))),
                _ => {}
            }
        }
        Some(m)
    }

    fn channels(&self) -> usize {
        self.channels.unwrap_or(1).max(1)
    }

    fn frames(&self) -> usize {
        self.frames.unwrap_or(1).max(1)
    }
}

/// ImageJ and tifffile escape non-ASCII units as `\uXXXX`.
fn unescape_unit(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find("\\u") {
        out.push_str(&rest[..i]);
        let hex = rest.get(i + 2..i + 6);
        match hex
            .and_then(|h| u32::from_str_radix(h, 16).ok())
            .and_then(char::from_u32)
        {
            Some(c) => {
                out.push(c);
                rest = &rest[i + 6..];
            }
            None => {
                out.push_str("\\u");
                rest = &rest[i + 2..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// One spelling for micrometres, whatever the file used.
fn normalize_unit(u: &str) -> String {
    match u.trim() {
        "um" | "micron" | "microns" | "µm" | "μm" => "µm".to_string(),
        "" | "pixels" => "pixel".to_string(),
        other => other.to_string(),
    }
}

type Dec = Decoder<BufReader<File>>;

fn open_impl(path: &Path, pick: Option<(usize, usize)>) -> Result<TiffPages> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let file_len = file.metadata().map_err(|e| Error::io(path, e))?.len();
    let mut limits = Limits::default();
    limits.decoding_buffer_size = MAX_PAGE_BYTES;
    let mut dec = Decoder::new(BufReader::new(file))
        .map_err(|e| tiff_err(path, Some(0), e))?
        .with_limits(limits);

    let info0 = page_info(&mut dec, path, 0)?;
    let ij = match dec.find_tag(Tag::ImageDescription) {
        Ok(Some(tiff::decoder::ifd::Value::Ascii(s))) => ImageJMeta::parse(&s),
        _ => None,
    };
    let cal = calibration(&mut dec, ij.as_ref());

    // ImageJ writes stacks over 4 GiB with only the first page directory and
    // all pixel data contiguous after it; read those the way ImageJ does.
    let ij_images = ij.as_ref().and_then(|m| m.images).unwrap_or(1);
    // Every page takes at least a byte, so a larger count is a damaged description.
    if ij_images as u64 > file_len {
        return Err(Error::format(
            path,
            None,
            format!(
                "the ImageJ description claims {ij_images} images, more than a {file_len}-byte file can hold"
            ),
        ));
    }
    let contiguous = ij_images > 1 && !dec.more_images();

    let (c_n, t_n) = ij.as_ref().map_or((1, 1), |m| (m.channels(), m.frames()));
    let pages: Option<Vec<usize>> = match pick {
        None => {
            if c_n > 1 || t_n > 1 {
                return Err(Error::format(
                    path,
                    None,
                    format!(
                        "this ImageJ hyperstack has {c_n} channel(s) and {t_n} time frame(s); infocus needs a single Z-stack: keep one channel and one frame (in Fiji: Image > Duplicate..., or Image > Stacks > Tools > Reduce Dimensionality...) or read one with read_tiff_hyperstack"
                    ),
                ));
            }
            None
        }
        Some((c, t)) => {
            if c >= c_n || t >= t_n {
                return Err(Error::invalid(format!(
                    "{}: asked for channel {c} and frame {t} (0-based), but the file has {c_n} channel(s) and {t_n} frame(s)",
                    path.display()
                )));
            }
            match ij.as_ref() {
                Some(m) if c_n > 1 || t_n > 1 || contiguous => {
                    let z_n = m.slices.unwrap_or(1).max(1);
                    let total = c_n.checked_mul(z_n).and_then(|n| n.checked_mul(t_n));
                    let Some(total) = total.filter(|&n| n as u64 <= file_len) else {
                        return Err(Error::format(
                            path,
                            None,
                            format!(
                                "the ImageJ description claims {c_n} channels x {z_n} slices x {t_n} frames, more images than a {file_len}-byte file can hold"
                            ),
                        ));
                    };
                    if let Some(images) = m.images {
                        if images != total {
                            return Err(Error::format(
                                path,
                                None,
                                format!(
                                    "the ImageJ description is inconsistent: images={images}, but channels x slices x frames = {c_n} x {z_n} x {t_n} = {total}"
                                ),
                            ));
                        }
                    }
                    // ImageJ's page order: channel fastest, then slice, then frame.
                    Some((0..z_n).map(|z| (t * z_n + z) * c_n + c).collect())
                }
                _ => None,
            }
        }
    };

    let order = if contiguous {
        let (start, little) = contiguous_layout(&mut dec, path, info0, ij_images)?;
        Order::Contiguous {
            start,
            little,
            pages: pages.unwrap_or_else(|| (0..ij_images).collect()),
        }
    } else if let Some(pages) = pages {
        Order::Pick(pages)
    } else {
        Order::Sequential { done: false }
    };
    Ok(TiffPages {
        dec,
        path: path.to_path_buf(),
        info0,
        cal,
        ij_images,
        order,
        next: 0,
    })
}

fn read_impl(path: &Path, pick: Option<(usize, usize)>) -> Result<(Stack, Calibration)> {
    let mut pages = open_impl(path, pick)?;
    let mut buf = Buf::new(pages.info0.sample.target());
    let z = pages.read_into(&mut buf, usize::MAX)?;
    let (h, w) = pages.size();
    let stack = buf
        .into_stack(z, h, w)
        .map_err(|e| Error::Internal(format!("reading {}: {e}", path.display())))?;
    Ok((stack, pages.cal))
}

/// The order in which a file's pages make the stack.
enum Order {
    /// ImageJ's single-directory layout: these pages, laid end to end from
    /// `start` (uncompressed).
    Contiguous {
        start: u64,
        little: bool,
        pages: Vec<usize>,
    },
    /// These page directories (one channel and frame of a hyperstack).
    Pick(Vec<usize>),
    /// Every page directory in turn.
    Sequential { done: bool },
}

/// The pages of a TIFF stack, read a few at a time, so that a stack larger
/// than memory can be processed slice by slice ([`open_tiff_pages`]). Every
/// check [`read_tiff`] makes is made, page by page, with the same messages.
pub struct TiffPages {
    dec: Dec,
    path: std::path::PathBuf,
    info0: PageInfo,
    cal: Calibration,
    ij_images: usize,
    order: Order,
    /// Pages read so far.
    next: usize,
}

/// Opens a TIFF stack for reading page by page; see [`read_tiff`].
pub fn open_tiff_pages(path: &Path) -> Result<TiffPages> {
    open_impl(path, None)
}

impl TiffPages {
    /// The calibration [`read_tiff`] would return.
    pub fn calibration(&self) -> &Calibration {
        &self.cal
    }

    /// The pixel type of the stack.
    pub fn pixel_type(&self) -> PixelType {
        self.info0.sample.target()
    }

    /// (H, W) of every slice.
    pub fn size(&self) -> (usize, usize) {
        (self.info0.height as usize, self.info0.width as usize)
    }

    /// The number of slices when the file says it up front (ImageJ stacks,
    /// picked hyperstack planes), else `None`.
    pub fn len_hint(&self) -> Option<usize> {
        match &self.order {
            Order::Contiguous { pages, .. } | Order::Pick(pages) => Some(pages.len()),
            Order::Sequential { .. } => (self.ij_images > 1).then_some(self.ij_images),
        }
    }

    /// The next `max` slices (fewer at the end) as a stack; `None` after the
    /// last one.
    pub fn next_slices(&mut self, max: usize) -> Result<Option<Stack>> {
        let mut buf = Buf::new(self.pixel_type());
        let z = self.read_into(&mut buf, max.max(1))?;
        if z == 0 {
            return Ok(None);
        }
        let (h, w) = self.size();
        let path = &self.path;
        buf.into_stack(z, h, w)
            .map(Some)
            .map_err(|e| Error::Internal(format!("reading {}: {e}", path.display())))
    }

    /// Appends up to `max` more pages to `buf`; returns how many.
    fn read_into(&mut self, buf: &mut Buf, max: usize) -> Result<usize> {
        let (path, info0) = (self.path.as_path(), self.info0);
        let ij_images = self.ij_images;
        let dec = &mut self.dec;
        let first = self.next;
        match &mut self.order {
            Order::Contiguous {
                start,
                little,
                pages,
            } => {
                let todo = &pages[first.min(pages.len())..];
                let todo = &todo[..todo.len().min(max)];
                read_contiguous(dec, path, info0, *start, *little, first, todo, buf)?;
                self.next += todo.len();
                Ok(todo.len())
            }
            Order::Pick(pages) => {
                let todo = &pages[first.min(pages.len())..];
                let todo = &todo[..todo.len().min(max)];
                for &p in todo {
                    if p > 0 {
                        dec.seek_to_image(p).map_err(|e| match e {
                            TiffError::FormatError(TiffFormatError::ImageFileDirectoryNotFound) => Error::format(
                                path,
                                Some(p),
                                format!("page is missing: the ImageJ description says the file has {ij_images} pages, but it ends earlier (truncated?)"),
                            ),
                            e => tiff_err(path, Some(p), e),
                        })?;
                    }
                    read_page(dec, path, p, info0, buf)?;
                }
                self.next += todo.len();
                Ok(todo.len())
            }
            Order::Sequential { done } => {
                let mut n = 0;
                while !*done && n < max {
                    let page = self.next;
                    read_page(dec, path, page, info0, buf)?;
                    n += 1;
                    self.next += 1;
                    if !dec.more_images() {
                        *done = true;
                        break;
                    }
                    dec.next_image()
                        .map_err(|e| tiff_err(path, Some(page + 1), e))?;
                }
                Ok(n)
            }
        }
    }
}

/// Checks the current page's tags and says in plain words what is wrong.
fn page_info(dec: &mut Dec, path: &Path, page: usize) -> Result<PageInfo> {
    let fail = |problem: String| Error::format(path, Some(page), problem);
    let tag_u16 = |dec: &mut Dec, tag: Tag| -> Result<Option<u16>> {
        match dec
            .find_tag(tag)
            .map_err(|e| tiff_err(path, Some(page), e))?
        {
            None => Ok(None),
            Some(v) => {
                let first = match v {
                    tiff::decoder::ifd::Value::List(items) => items.into_iter().next(),
                    v => Some(v),
                };
                Ok(first.and_then(|v| v.into_u16().ok()))
            }
        }
    };
    let samples = tag_u16(dec, Tag::SamplesPerPixel)?.unwrap_or(1);
    let photometric = tag_u16(dec, Tag::PhotometricInterpretation)?;
    let bits = tag_u16(dec, Tag::BitsPerSample)?.unwrap_or(1);
    let format = tag_u16(dec, Tag::SampleFormat)?.unwrap_or(1);

    if samples > 1 {
        let what = if photometric == Some(2) {
            "an RGB colour image"
        } else {
            "a multi-sample image"
        };
        return Err(fail(format!(
            "page is {what} with {samples} samples per pixel; infocus needs one grey value per pixel: convert to 8-bit, 16-bit or 32-bit greyscale first (in Fiji: Image > Type)"
        )));
    }
    match photometric {
        // WhiteIsZero integer pages are inverted by the decoder (max - v), so
        // that larger always means brighter; focus measures do not care.
        Some(0 | 1) | None => {}
        Some(2) => {
            return Err(fail(
                "page is an RGB colour image; infocus needs greyscale pages".into(),
            ));
        }
        Some(3) => {
            return Err(fail(
                "page is an indexed-colour (palette) image; infocus needs greyscale pages: convert it to greyscale first".into(),
            ));
        }
        Some(p) => {
            return Err(fail(format!(
                "page uses colour space {p} (not greyscale); infocus needs greyscale pages"
            )));
        }
    }
    if bits == 1 {
        return Err(fail(
            "page is a 1-bit (bilevel, black-and-white) image; infocus needs 8-bit, 16-bit or 32-bit greyscale".into(),
        ));
    }
    let sample = match (format, bits) {
        (1, 8) => Sample::U8,
        (1, 16) => Sample::U16,
        (1, 32) => Sample::U32,
        (1, 64) => Sample::U64,
        (2, 8) => Sample::I8,
        (2, 16) => Sample::I16,
        (2, 32) => Sample::I32,
        (2, 64) => Sample::I64,
        (3, 16) => Sample::F16,
        (3, 32) => Sample::F32,
        (3, 64) => {
            return Err(fail(
                "page holds 64-bit floating-point values; infocus reads 8-bit, 16-bit or 32-bit float: convert to 32-bit first (in Fiji: Image > Type > 32-bit)".into(),
            ));
        }
        (1..=3, b) => {
            return Err(fail(format!(
                "page has {b}-bit samples; infocus reads 8-bit and 16-bit integer or 32-bit float pages"
            )));
        }
        (f, _) => {
            return Err(fail(format!(
                "page has sample format {f}, which is neither integer nor floating point"
            )));
        }
    };
    if photometric == Some(0) && matches!(sample, Sample::F16 | Sample::F32) {
        return Err(fail(
            "page is inverted floating-point greyscale (WhiteIsZero); infocus cannot read that without guessing the white level".into(),
        ));
    }
    let (width, height) = dec
        .dimensions()
        .map_err(|e| tiff_err(path, Some(page), e))?;
    if width == 0 || height == 0 {
        return Err(fail(format!("page is empty ({width} x {height} pixels)")));
    }
    Ok(PageInfo {
        width,
        height,
        sample,
    })
}

/// Decodes the current page after checking it matches page 0.
fn read_page(
    dec: &mut Dec,
    path: &Path,
    page: usize,
    info0: PageInfo,
    buf: &mut Buf,
) -> Result<()> {
    let info = if page == 0 {
        info0
    } else {
        page_info(dec, path, page)?
    };
    if (info.width, info.height) != (info0.width, info0.height) {
        return Err(Error::format(
            path,
            Some(page),
            format!(
                "page is {} x {} pixels (width x height) but page 0 is {} x {}; all pages of a stack must have the same size",
                info.width, info.height, info0.width, info0.height
            ),
        ));
    }
    if info.sample != info0.sample {
        return Err(Error::format(
            path,
            Some(page),
            format!(
                "page holds {} values but page 0 holds {} values; all pages of a stack must have the same pixel type",
                info.sample.describe(),
                info0.sample.describe()
            ),
        ));
    }
    check_data_present(dec, path, page, info)?;
    // Room for this page in the stack, and for the decoder's copy of it,
    // before the decoder allocates: a file may hold more pages than fit in
    // memory.
    let n = info.width as usize * info.height as usize;
    buf.reserve(n, n.saturating_mul(info.sample.bytes()), page, info0)
        .map_err(|problem| Error::format(path, Some(page), problem))?;
    let data = dec
        .read_image()
        .map_err(|e| tiff_err(path, Some(page), e))?;
    buf.push(
        data,
        info.width as usize * info.height as usize,
        info.width as usize,
    )
    .map_err(|problem| Error::format(path, Some(page), problem))
}

/// Refuses a page whose header promises far more pixels than the file holds
/// data for, before the decoder allocates room for them: a damaged header
/// must give an error, not exhaust memory.
fn check_data_present(dec: &mut Dec, path: &Path, page: usize, info: PageInfo) -> Result<()> {
    let counts = |dec: &mut Dec, tag: Tag| dec.find_tag_unsigned_vec::<u64>(tag).ok().flatten();
    let stored: u64 = counts(dec, Tag::StripByteCounts)
        .or_else(|| counts(dec, Tag::TileByteCounts))
        .unwrap_or_default()
        .iter()
        .fold(0u64, |acc, &c| acc.saturating_add(c));
    // Byte counts are claims too: no page holds more than the whole file.
    let file_len = dec
        .inner()
        .get_ref()
        .metadata()
        .map_or(u64::MAX, |m| m.len());
    let stored = stored.min(file_len);
    let compressed = dec
        .find_tag_unsigned::<u16>(Tag::Compression)
        .ok()
        .flatten()
        .is_some_and(|c| c != 1);
    // No codec TIFF uses packs more than a few thousand pixels into a byte.
    let ratio = if compressed { 4096 } else { 1 };
    let needed =
        (u64::from(info.width) * u64::from(info.height)).saturating_mul(info.sample.bytes() as u64);
    if stored.saturating_mul(ratio) < needed {
        return Err(Error::format(
            path,
            Some(page),
            format!(
                "the page claims {} x {} pixels ({needed} bytes) but the file holds only {stored} bytes of data for it (damaged or truncated?)",
                info.width, info.height
            ),
        ));
    }
    Ok(())
}

/// Checks ImageJ's single-directory layout (stacks over 4 GiB: `images`
/// pages laid end to end after page 0's data) and returns where the data
/// starts and whether it is little-endian.
fn contiguous_layout(
    dec: &mut Dec,
    path: &Path,
    info0: PageInfo,
    images: usize,
) -> Result<(u64, bool)> {
    let fail = |problem: String| Error::format(path, Some(0), problem);
    let compression = dec
        .find_tag_unsigned::<u16>(Tag::Compression)
        .map_err(|e| tiff_err(path, Some(0), e))?
        .unwrap_or(1);
    if compression != 1 {
        return Err(fail(format!(
            "the ImageJ description says images={images} but the file has only one page directory, and its data is compressed; re-save the stack in Fiji"
        )));
    }
    let offsets = dec
        .find_tag_unsigned_vec::<u64>(Tag::StripOffsets)
        .map_err(|e| tiff_err(path, Some(0), e))?
        .unwrap_or_default();
    let counts = dec
        .find_tag_unsigned_vec::<u64>(Tag::StripByteCounts)
        .map_err(|e| tiff_err(path, Some(0), e))?
        .unwrap_or_default();
    let contiguous_strips = offsets.len() == counts.len()
        && offsets
            .windows(2)
            .zip(&counts)
            .all(|(o, c)| o[0].checked_add(*c) == Some(o[1]));
    let Some(&start) = offsets.first().filter(|_| contiguous_strips) else {
        return Err(fail(format!(
            "the ImageJ description says images={images} but the file has only one page directory, and its data is not laid out contiguously"
        )));
    };
    let n = info0.width as usize * info0.height as usize;
    let page_bytes = n.saturating_mul(info0.sample.bytes());
    let little = dec.byte_order() == tiff::tags::ByteOrder::LittleEndian;
    let file = dec.inner();
    let len = file
        .seek(SeekFrom::End(0))
        .map_err(|e| Error::io(path, e))?;
    let need = (images as u64)
        .checked_mul(page_bytes as u64)
        .and_then(|b| b.checked_add(start));
    if need.is_none_or(|need| need > len) {
        return Err(fail(format!(
            "the file is truncated: the ImageJ description says {images} pages of {page_bytes} bytes from offset {start}, but the file has {len} bytes"
        )));
    }
    Ok((start, little))
}

/// Reads `pages` of ImageJ's single-directory layout (see
/// [`contiguous_layout`]); `first` is how many slices were read before.
#[allow(clippy::too_many_arguments)]
fn read_contiguous(
    dec: &mut Dec,
    path: &Path,
    info0: PageInfo,
    start: u64,
    little: bool,
    first: usize,
    pages: &[usize],
    buf: &mut Buf,
) -> Result<()> {
    if pages.is_empty() {
        return Ok(());
    }
    let fail = |problem: String| Error::format(path, Some(0), problem);
    let n = info0.width as usize * info0.height as usize;
    let page_bytes = n.saturating_mul(info0.sample.bytes());
    let file = dec.inner();
    let mut raw = vec![0u8; page_bytes];
    buf.reserve(
        n.saturating_mul(pages.len()),
        0,
        first + pages.len() - 1,
        info0,
    )
    .map_err(fail)?;
    for &p in pages {
        let at = start + (p * page_bytes) as u64;
        file.seek(SeekFrom::Start(at))
            .map_err(|e| Error::io(path, e))?;
        file.read_exact(&mut raw).map_err(|e| Error::io(path, e))?;
        let data = raw_to_result(&raw, info0.sample, little);
        buf.push(data, n, info0.width as usize)
            .map_err(|problem| Error::format(path, Some(p), problem))?;
    }
    Ok(())
}

/// Uncompressed sample bytes in the file's byte order, as decoded values.
fn raw_to_result(raw: &[u8], sample: Sample, little: bool) -> DecodingResult {
    macro_rules! conv {
        ($t:ty, $n:expr) => {
            raw.chunks_exact($n)
                .map(|c| {
                    let mut b = [0u8; $n];
                    b.copy_from_slice(c);
                    if little {
                        <$t>::from_le_bytes(b)
                    } else {
                        <$t>::from_be_bytes(b)
                    }
                })
                .collect()
        };
    }
    match sample {
        Sample::U8 => DecodingResult::U8(raw.to_vec()),
        Sample::I8 => DecodingResult::I8(raw.iter().map(|&b| b as i8).collect()),
        Sample::U16 => DecodingResult::U16(conv!(u16, 2)),
        Sample::I16 => DecodingResult::I16(conv!(i16, 2)),
        Sample::U32 => DecodingResult::U32(conv!(u32, 4)),
        Sample::I32 => DecodingResult::I32(conv!(i32, 4)),
        Sample::U64 => DecodingResult::U64(conv!(u64, 8)),
        Sample::I64 => DecodingResult::I64(conv!(i64, 8)),
        Sample::F16 => DecodingResult::F32(
            raw.chunks_exact(2)
                .map(|c| {
                    let b = [c[0], c[1]];
                    f16_to_f32(if little {
                        u16::from_le_bytes(b)
                    } else {
                        u16::from_be_bytes(b)
                    })
                })
                .collect(),
        ),
        Sample::F32 => DecodingResult::F32(conv!(f32, 4)),
    }
}

/// IEEE half to single precision (exact).
fn f16_to_f32(h: u16) -> f32 {
    let sign = u32::from(h >> 15) << 31;
    let exp = u32::from((h >> 10) & 0x1f);
    let man = u32::from(h & 0x3ff);
    let bits = match (exp, man) {
        (0, 0) => sign,
        (0, m) => {
            // Subnormal: value = m * 2^-24, exactly representable in f32.
            let v = m as f32 * (1.0 / 16_777_216.0);
            return if sign != 0 { -v } else { v };
        }
        (31, 0) => sign | 0x7f80_0000,
        (31, m) => sign | 0x7fc0_0000 | (m << 13),
        (e, m) => sign | ((e + 112) << 23) | (m << 13),
    };
    f32::from_bits(bits)
}

/// The stack being assembled, in its final type.
enum Buf {
    U8(Vec<u8>),
    U16(Vec<u16>),
    F32(Vec<f32>),
}

impl Buf {
    /// Makes room for `n` more values (and `scratch` bytes more, needed
    /// meanwhile), or says why there is not enough memory; `page` is the
    /// 0-based index of the last page the room is for.
    fn reserve(
        &mut self,
        n: usize,
        scratch: usize,
        page: usize,
        info: PageInfo,
    ) -> std::result::Result<(), String> {
        let (len, size) = match self {
            Buf::U8(v) => (v.len(), 1),
            Buf::U16(v) => (v.len(), 2),
            Buf::F32(v) => (v.len(), 4),
        };
        let bytes = crate::limits::bytes_of(&[len.saturating_add(n)], size) + scratch as u128;
        let what = format!(
            "a stack of {} pages of {} x {} {} pixels",
            page + 1,
            info.width,
            info.height,
            info.sample.target().name()
        );
        crate::limits::check(bytes, &what)?;
        let grown = match self {
            Buf::U8(v) => v.try_reserve(n).is_ok(),
            Buf::U16(v) => v.try_reserve(n).is_ok(),
            Buf::F32(v) => v.try_reserve(n).is_ok(),
        };
        if grown {
            Ok(())
        } else {
            Err(format!(
                "{what} needs {} of memory, more than this process can allocate",
                crate::limits::Bytes(bytes)
            ))
        }
    }

    fn new(t: PixelType) -> Buf {
        match t {
            PixelType::U8 => Buf::U8(Vec::new()),
            PixelType::U16 => Buf::U16(Vec::new()),
            PixelType::F32 => Buf::F32(Vec::new()),
        }
    }

    /// Appends one decoded page, converting without loss or saying why not.
    fn push(
        &mut self,
        data: DecodingResult,
        n: usize,
        width: usize,
    ) -> std::result::Result<(), String> {
        let len = match &data {
            DecodingResult::U8(v) => v.len(),
            DecodingResult::U16(v) => v.len(),
            DecodingResult::U32(v) => v.len(),
            DecodingResult::U64(v) => v.len(),
            DecodingResult::F16(v) => v.len(),
            DecodingResult::F32(v) => v.len(),
            DecodingResult::F64(v) => v.len(),
            DecodingResult::I8(v) => v.len(),
            DecodingResult::I16(v) => v.len(),
            DecodingResult::I32(v) => v.len(),
            DecodingResult::I64(v) => v.len(),
        };
        if len < n {
            return Err(format!("page decoded to {len} values instead of {n}"));
        }
        let at = |k: usize| format!("(y={}, x={})", k / width, k % width);
        // Narrows wide or signed integers to `max`, or says which value does not fit.
        fn narrow<T: Copy + Into<i128> + std::fmt::Display>(
            v: &[T],
            max: i128,
            at: &dyn Fn(usize) -> String,
        ) -> std::result::Result<(), String> {
            if let Some((k, x)) = v.iter().enumerate().find(|(_, x)| {
                let x: i128 = (**x).into();
                x < 0 || x > max
            }) {
                let range = if max == 255 { "0..255" } else { "0..65535" };
                return Err(format!(
                    "page has the value {x} at {}, which does not fit the {range} range infocus reads these pixels into; rescale or convert the stack to 16-bit or 32-bit float first",
                    at(k)
                ));
            }
            Ok(())
        }
        match (self, data) {
            (Buf::U8(out), DecodingResult::U8(v)) => out.extend_from_slice(&v[..n]),
            (Buf::U8(out), DecodingResult::I8(v)) => {
                narrow(&v[..n], 255, &at)?;
                out.extend(v[..n].iter().map(|&x| x as u8));
            }
            (Buf::U16(out), DecodingResult::U16(v)) => out.extend_from_slice(&v[..n]),
            (Buf::U16(out), DecodingResult::I16(v)) => {
                narrow(&v[..n], 65535, &at)?;
                out.extend(v[..n].iter().map(|&x| x as u16));
            }
            (Buf::U16(out), DecodingResult::U32(v)) => {
                narrow(&v[..n], 65535, &at)?;
                out.extend(v[..n].iter().map(|&x| x as u16));
            }
            (Buf::U16(out), DecodingResult::I32(v)) => {
                narrow(&v[..n], 65535, &at)?;
                out.extend(v[..n].iter().map(|&x| x as u16));
            }
            (Buf::U16(out), DecodingResult::U64(v)) => {
                narrow(&v[..n], 65535, &at)?;
                out.extend(v[..n].iter().map(|&x| x as u16));
            }
            (Buf::U16(out), DecodingResult::I64(v)) => {
                narrow(&v[..n], 65535, &at)?;
                out.extend(v[..n].iter().map(|&x| x as u16));
            }
            (Buf::F32(out), DecodingResult::F32(v)) => out.extend_from_slice(&v[..n]),
            (Buf::F32(out), DecodingResult::F16(v)) => {
                out.extend(v[..n].iter().map(|x| x.to_f32()))
            }
            (_, _) => return Err("page decoded to an unexpected sample type".into()),
        }
        Ok(())
    }

    fn into_stack(
        self,
        z: usize,
        h: usize,
        w: usize,
    ) -> std::result::Result<Stack, ndarray::ShapeError> {
        Ok(match self {
            Buf::U8(v) => Stack::U8(Array3::from_shape_vec((z, h, w), v)?),
            Buf::U16(v) => Stack::U16(Array3::from_shape_vec((z, h, w), v)?),
            Buf::F32(v) => Stack::F32(Array3::from_shape_vec((z, h, w), v)?),
        })
    }
}

/// Voxel size from X/YResolution, ResolutionUnit and the ImageJ description.
///
/// ImageJ stores micrometres with ResolutionUnit "none" and the unit in its
/// description, so the description's unit wins; otherwise the TIFF unit (inch
/// or centimetre) is used. Without a unit the resolution is not a physical
/// size and the default calibration is returned.
fn calibration(dec: &mut Dec, ij: Option<&ImageJMeta>) -> Calibration {
    use tiff::decoder::ifd::Value;
    let mut rational = |tag: Tag| -> Option<f64> {
        let v = match dec.find_tag(tag).ok()?? {
            Value::List(items) => items.into_iter().next()?,
            v => v,
        };
        let x = match v {
            Value::Rational(n, d) if d != 0 => f64::from(n) / f64::from(d),
            Value::Float(f) => f64::from(f),
            Value::Double(f) => f,
            Value::Short(s) => f64::from(s),
            Value::Unsigned(u) => f64::from(u),
            _ => return None,
        };
        // A pixel size (1 / x) must be a finite number too: a resolution so
        // small that its inverse overflows is as good as none.
        (x.is_finite() && x > 0.0 && (1.0 / x).is_finite()).then_some(x)
    };
    let xres = rational(Tag::XResolution);
    let yres = rational(Tag::YResolution);
    let res_unit = dec
        .find_tag_unsigned::<u16>(Tag::ResolutionUnit)
        .ok()
        .flatten();

    let mut cal = Calibration::default();
    let unit = match ij.and_then(|m| m.unit.clone()) {
        Some(u) => Some(u),
        None => match (res_unit, xres) {
            (Some(3), Some(_)) => Some("cm".to_string()),
            // TIFF's default resolution unit is the inch.
            (Some(2) | None, Some(_)) => Some("inch".to_string()),
            _ => None,
        },
    };
    if let Some(unit) = unit {
        if let Some(x) = xres {
            cal.pixel_width = 1.0 / x;
            cal.pixel_height = 1.0 / x;
        }
        if let Some(y) = yres {
            cal.pixel_height = 1.0 / y;
        }
        cal.unit = unit;
    }
    if let Some(s) = ij.and_then(|m| m.spacing) {
        cal.z_spacing = s;
    }
    cal
}

/// Turns the crate's errors into ours, in words that fit a file problem.
fn tiff_err(path: &Path, page: Option<usize>, e: TiffError) -> Error {
    use std::io::ErrorKind;
    let problem = match e {
        TiffError::IoError(io) => match io.kind() {
            ErrorKind::UnexpectedEof => "the file ends early (truncated?)".to_string(),
            ErrorKind::InvalidData | ErrorKind::InvalidInput => {
                format!("the page data is corrupt ({io})")
            }
            _ => return Error::io(path, io),
        },
        TiffError::FormatError(
            TiffFormatError::TiffSignatureNotFound | TiffFormatError::TiffSignatureInvalid,
        ) => "not a TIFF file (it does not start with a TIFF signature)".to_string(),
        TiffError::FormatError(f) => format!("the TIFF structure is damaged or invalid: {f}"),
        TiffError::UnsupportedError(u) => {
            format!("the page uses a TIFF feature infocus cannot read: {u}")
        }
        TiffError::LimitsExceeded => {
            format!(
                "the page is larger than the {} GiB infocus reads at once",
                MAX_PAGE_BYTES >> 30
            )
        }
        other => format!("the page cannot be read: {other}"),
    };
    Error::format(path, page, problem)
}

// ---------------------------------------------------------------------------
// Writing

/// Like [`write_tiff`], with the largest offset a page directory may have
/// before the file switches to ImageJ's single-directory layout (a parameter
/// so that tests need not write 4 GiB).
fn write_tiff_impl(
    path: &Path,
    stack: StackView<'_>,
    cal: &Calibration,
    max_offset: u64,
) -> Result<Staged> {
    let range = match stack {
        StackView::F32(a) => finite_range(a.iter().copied()),
        _ => None,
    };
    let (layout, desc) = layout_of(path, stack.pixel_type(), stack.dim(), cal, range)?;
    stage(path, |out| {
        layout.write(out, &desc, max_offset, path, &mut |zi, out| {
            write_page(out, stack, zi, path)
        })
    })
}

/// The finite (min, max) of float values, if any is finite.
fn finite_range(values: impl Iterator<Item = f32>) -> Option<(f32, f32)> {
    let (lo, hi) = values
        .filter(|v| v.is_finite())
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    (lo <= hi).then_some((lo, hi))
}

/// Writes a TIFF stack of `dim` (Z x H x W) slices of `pixel_type` to a
/// staged temporary file, one slice at a time: `slice(k)` gives slice `k`
/// (a 1 x H x W stack) when it is due. `range` is the finite (min, max) of
/// the values of a float stack, which ImageJ's description records. The
/// bytes are those [`stage_tiff`] writes for the whole stack.
pub fn stage_tiff_pages(
    path: &Path,
    pixel_type: PixelType,
    dim: (usize, usize, usize),
    cal: &Calibration,
    range: Option<(f32, f32)>,
    mut slice: impl FnMut(usize) -> Result<Stack>,
) -> Result<Staged> {
    let range = if pixel_type == PixelType::F32 {
        range
    } else {
        None
    };
    let (layout, desc) = layout_of(path, pixel_type, dim, cal, range)?;
    let (_, h, w) = dim;
    stage(path, |out| {
        layout.write(out, &desc, u64::from(u32::MAX), path, &mut |zi, out| {
            let s = slice(zi)?;
            if s.dim() != (1, h, w) || s.pixel_type() != pixel_type {
                return Err(Error::Internal(format!(
                    "writing {}: slice {zi} is {:?} {} instead of 1 x {h} x {w} {}",
                    path.display(),
                    s.dim(),
                    s.pixel_type().name(),
                    pixel_type.name()
                )));
            }
            write_page(out, s.view(), 0, path)
        })
    })
}

/// Writes slice `zi` of `stack` as little-endian samples.
fn write_page(out: &mut dyn Write, stack: StackView<'_>, zi: usize, path: &Path) -> Result<()> {
    let err = write_err(path);
    // Little-endian bytes of `values`, a block at a time into a fixed buffer
    // (a loop the compiler vectorises).
    fn put<T: Copy, const N: usize>(
        out: &mut dyn Write,
        values: impl Iterator<Item = T>,
        bytes: impl Fn(T) -> [u8; N],
        err: &dyn Fn(std::io::Error) -> Error,
    ) -> Result<()> {
        let mut buf = vec![0u8; 1 << 16];
        let mut values = values.peekable();
        while values.peek().is_some() {
            let mut n = 0;
            for (d, v) in buf.chunks_exact_mut(N).zip(&mut values) {
                d.copy_from_slice(&bytes(v));
                n += N;
            }
            out.write_all(&buf[..n]).map_err(err)?;
        }
        Ok(())
    }
    macro_rules! page {
        ($a:expr) => {{
            let p = $a.index_axis(Axis(0), zi);
            match p.as_slice() {
                Some(v) => put(out, v.iter().copied(), |x| x.to_le_bytes(), &err),
                None => put(out, p.iter().copied(), |x| x.to_le_bytes(), &err),
            }
        }};
    }
    match stack {
        StackView::U8(a) => page!(a),
        StackView::U16(a) => page!(a),
        StackView::F32(a) => page!(a),
    }
}

/// The file layout and ImageJ description of a stack, after checking that
/// it can be written.
fn layout_of(
    path: &Path,
    pixel_type: PixelType,
    dim: (usize, usize, usize),
    cal: &Calibration,
    range: Option<(f32, f32)>,
) -> Result<(Layout, String)> {
    let (z, h, w) = dim;
    if z == 0 || h == 0 || w == 0 {
        return Err(Error::invalid(format!(
            "cannot write an empty stack ({z} x {h} x {w}) to {}",
            path.display()
        )));
    }
    for (name, v) in [
        ("pixel width", cal.pixel_width),
        ("pixel height", cal.pixel_height),
        ("z spacing", cal.z_spacing),
    ] {
        if !(v.is_finite() && v > 0.0) {
            return Err(Error::invalid(format!(
                "calibration {name} must be a positive number, not {v}"
            )));
        }
    }
    let unit = match normalize_unit(&cal.unit).as_str() {
        "µm" => "um".to_string(),
        u if u.is_ascii() && !u.contains(['\n', '\r', '\0']) => u.to_string(),
        _ => {
            return Err(Error::invalid(format!(
                "calibration unit {:?} cannot be stored in a TIFF: use plain ASCII (or µm)",
                cal.unit
            )));
        }
    };
    let too_big = || Error::invalid(format!("a {w} x {h} slice is too large for a TIFF page"));
    let w32 = u32::try_from(w).map_err(|_| too_big())?;
    let h32 = u32::try_from(h).map_err(|_| too_big())?;
    let (bits, format, bytes) = match pixel_type {
        PixelType::U8 => (8u16, 1u16, 1usize),
        PixelType::U16 => (16, 1, 2),
        PixelType::F32 => (32, 3, 4),
    };
    let page_bytes = w
        .checked_mul(h)
        .and_then(|n| n.checked_mul(bytes))
        .and_then(|n| u32::try_from(n).ok())
        .ok_or_else(too_big)?;

    let mut desc = format!(
        "ImageJ=1.53t\nimages={z}\nslices={z}\nunit={unit}\nspacing={}\nloop=false\n",
        cal.z_spacing
    );
    if let Some((lo, hi)) = range {
        desc.push_str(&format!("min={lo}\nmax={hi}\n"));
    }
    let res_unit = match unit.as_str() {
        "inch" => 2u16,
        "cm" => 3,
        _ => 1,
    };
    let layout = Layout {
        width: w32,
        height: h32,
        bits,
        format,
        res_unit,
        xres: rational(1.0 / cal.pixel_width),
        yres: rational(1.0 / cal.pixel_height),
        page_bytes,
        pages: z,
    };
    Ok((layout, desc))
}

/// Everything about the file that does not depend on pixel values.
struct Layout {
    width: u32,
    height: u32,
    bits: u16,
    format: u16,
    res_unit: u16,
    xres: (u32, u32),
    yres: (u32, u32),
    page_bytes: u32,
    pages: usize,
}

const SHORT: u16 = 3;
const LONG: u16 = 4;
const ASCII: u16 = 2;
const RATIONAL: u16 = 5;

impl Layout {
    /// Bytes of one page directory with its out-of-line values (two
    /// rationals, and the description on page 0), padded to even length.
    fn ifd_len(&self, desc_len: Option<usize>) -> u64 {
        let entries = if desc_len.is_some() { 15 } else { 14 };
        let dir = 2 + 12 * entries + 4;
        let desc = desc_len.map_or(0, |n| (n + 1).next_multiple_of(2));
        (dir + desc + 16) as u64
    }

    fn write(
        &self,
        out: &mut dyn Write,
        desc: &str,
        max_offset: u64,
        path: &Path,
        page: &mut dyn FnMut(usize, &mut dyn Write) -> Result<()>,
    ) -> Result<()> {
        let err = write_err(path);
        let ifd0 = 8u64;
        let data0 = ifd0 + self.ifd_len(Some(desc.len()));
        let data_len = self.pages as u64 * u64::from(self.page_bytes);
        let data_end = data0 + data_len;
        let pad = data_end % 2;
        let rest_start = data_end + pad;
        let rest_end = rest_start + (self.pages as u64 - 1) * self.ifd_len(None);
        // Offsets in a classic TIFF are 32-bit; past that, keep only the first
        // directory, as ImageJ does for stacks over 4 GiB.
        let all_ifds = rest_end <= max_offset;
        if data0 > max_offset {
            return Err(Error::invalid("the stack is too large for a TIFF file"));
        }

        let mut o = Vec::with_capacity(data0 as usize);
        o.extend_from_slice(b"II");
        o.extend_from_slice(&42u16.to_le_bytes());
        o.extend_from_slice(&(ifd0 as u32).to_le_bytes());
        let next = if all_ifds && self.pages > 1 {
            rest_start
        } else {
            0
        };
        self.ifd(&mut o, ifd0, Some(desc), data0, next);
        debug_assert_eq!(o.len() as u64, data0);
        out.write_all(&o).map_err(&err)?;

        for zi in 0..self.pages {
            page(zi, &mut *out)?;
        }
        if pad == 1 {
            out.write_all(&[0]).map_err(&err)?;
        }
        if all_ifds {
            let mut at = rest_start;
            for zi in 1..self.pages {
                let len = self.ifd_len(None);
                let next = if zi + 1 < self.pages { at + len } else { 0 };
                let mut o = Vec::with_capacity(len as usize);
                self.ifd(
                    &mut o,
                    at,
                    None,
                    data0 + zi as u64 * u64::from(self.page_bytes),
                    next,
                );
                out.write_all(&o).map_err(&err)?;
                at += len;
            }
        }
        Ok(())
    }

    /// One page directory at offset `at`, followed by its values.
    fn ifd(&self, o: &mut Vec<u8>, at: u64, desc: Option<&str>, strip: u64, next: u64) {
        let n_entries: u16 = if desc.is_some() { 15 } else { 14 };
        let values = at + 2 + 12 * u64::from(n_entries) + 4;
        let desc_bytes = desc.map_or(0, |d| (d.len() + 1).next_multiple_of(2) as u64);
        let xres_at = values + desc_bytes;
        let yres_at = xres_at + 8;
        // Offsets were checked against 32 bits by the caller.
        let off = |v: u64| v as u32;
        let mut entries: Vec<(u16, u16, u32, u32)> = vec![
            (254, LONG, 1, 0),
            (256, LONG, 1, self.width),
            (257, LONG, 1, self.height),
            (258, SHORT, 1, u32::from(self.bits)),
            (259, SHORT, 1, 1),
            (262, SHORT, 1, 1),
            (273, LONG, 1, off(strip)),
            (277, SHORT, 1, 1),
            (278, LONG, 1, self.height),
            (279, LONG, 1, self.page_bytes),
            (282, RATIONAL, 1, off(xres_at)),
            (283, RATIONAL, 1, off(yres_at)),
            (296, SHORT, 1, u32::from(self.res_unit)),
            (339, SHORT, 1, u32::from(self.format)),
        ];
        if let Some(d) = desc {
            entries.push((270, ASCII, (d.len() + 1) as u32, off(values)));
            entries.sort_by_key(|e| e.0);
        }
        o.extend_from_slice(&n_entries.to_le_bytes());
        for (tag, typ, count, value) in entries {
            o.extend_from_slice(&tag.to_le_bytes());
            o.extend_from_slice(&typ.to_le_bytes());
            o.extend_from_slice(&count.to_le_bytes());
            if typ == SHORT {
                o.extend_from_slice(&(value as u16).to_le_bytes());
                o.extend_from_slice(&[0, 0]);
            } else {
                o.extend_from_slice(&value.to_le_bytes());
            }
        }
        o.extend_from_slice(&off(next).to_le_bytes());
        if let Some(d) = desc {
            o.extend_from_slice(d.as_bytes());
            o.push(0);
            if (d.len() + 1) % 2 == 1 {
                o.push(0);
            }
        }
        for (n, d) in [self.xres, self.yres] {
            o.extend_from_slice(&n.to_le_bytes());
            o.extend_from_slice(&d.to_le_bytes());
        }
    }
}

/// The fraction n/d (both 32-bit) closest to `x`, by continued fractions.
fn rational(x: f64) -> (u32, u32) {
    let max = f64::from(u32::MAX);
    if x.is_nan() || x <= 0.0 {
        return (1, 1);
    }
    if x >= max {
        return (u32::MAX, 1);
    }
    if x <= 1.0 / max {
        return (1, u32::MAX);
    }
    let (mut h0, mut h1, mut k0, mut k1) = (0u64, 1u64, 1u64, 0u64);
    let mut v = x;
    for _ in 0..64 {
        let a = v.floor();
        if a > max {
            break;
        }
        let a = a as u64;
        let (Some(h2), Some(k2)) = (
            a.checked_mul(h1).and_then(|p| p.checked_add(h0)),
            a.checked_mul(k1).and_then(|p| p.checked_add(k0)),
        ) else {
            break;
        };
        if h2 > u64::from(u32::MAX) || k2 > u64::from(u32::MAX) {
            break;
        }
        (h0, h1, k0, k1) = (h1, h2, k1, k2);
        let frac = v - a as f64;
        if h1 as f64 / k1 as f64 == x || frac <= 0.0 {
            break;
        }
        v = 1.0 / frac;
    }
    if k1 == 0 {
        return (1, 1);
    }
    (h1 as u32, k1 as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rational_is_close() {
        for x in [
            1.0,
            9.389671,
            0.3,
            1.0 / 0.1065,
            123456.789,
            1e-6,
            7.0 / 3.0,
        ] {
            let (n, d) = rational(x);
            let y = f64::from(n) / f64::from(d);
            assert!(((y - x) / x).abs() < 1e-12, "{x} -> {n}/{d}");
        }
        assert_eq!(rational(2.5), (5, 2));
    }

    #[test]
    fn f16_conversion() {
        assert_eq!(f16_to_f32(0x3c00), 1.0);
        assert_eq!(f16_to_f32(0xc000), -2.0);
        assert_eq!(f16_to_f32(0x0001), 2f32.powi(-24));
        assert_eq!(f16_to_f32(0x7bff), 65504.0);
        assert!(f16_to_f32(0x7c00).is_infinite());
    }

    #[test]
    fn past_the_offset_limit_only_the_first_directory_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.tif");
        let a = Array3::from_shape_fn((5, 3, 7), |(z, y, x)| (z * 1000 + y * 10 + x) as u16);
        let cal = Calibration::default();
        // Pretend 32-bit offsets end just after the pixel data.
        let limit = 8 + 2 + 12 * 15 + 4 + 80 + 16 + 5 * 3 * 7 * 2;
        write_tiff_impl(&path, StackView::U16(a.view()), &cal, limit)
            .unwrap()
            .commit()
            .unwrap();
        let dec = Decoder::new(BufReader::new(File::open(&path).unwrap())).unwrap();
        assert!(!dec.more_images());
        let (back, _) = read_tiff(&path).unwrap();
        assert_eq!(back, Stack::U16(a.clone()));
        let (one, _) = read_tiff_hyperstack(&path, 0, 0).unwrap();
        assert_eq!(one, Stack::U16(a.clone()));
        // With room for every directory, all five are written.
        write_tiff_impl(&path, StackView::U16(a.view()), &cal, u64::from(u32::MAX))
            .unwrap()
            .commit()
            .unwrap();
        let mut dec = Decoder::new(BufReader::new(File::open(&path).unwrap())).unwrap();
        let mut pages = 1;
        while dec.more_images() {
            dec.next_image().unwrap();
            pages += 1;
        }
        assert_eq!(pages, 5);
    }

    #[test]
    fn imagej_description() {
        let m = ImageJMeta::parse(
            "ImageJ=1.53t\nimages=6\nchannels=2\nslices=3\nunit=\\u00B5m\nspacing=0.5\n\0",
        )
        .unwrap();
        assert_eq!(m.images, Some(6));
        assert_eq!(m.channels(), 2);
        assert_eq!(m.slices, Some(3));
        assert_eq!(m.frames(), 1);
        assert_eq!(m.unit.as_deref(), Some("µm"));
        assert_eq!(m.spacing, Some(0.5));
        assert!(ImageJMeta::parse("hello").is_none());
    }
}
