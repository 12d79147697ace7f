//! NumPy `.npy` files, the lingua franca of the Python side (napari, the
//! paper's own data).
//!
//! The format is a short Python-literal header followed by raw array data, so
//! a small parser here is simpler to trust than a general crate. Arrays often
//! arrive with a wider dtype than their values need (the paper's images are
//! int64 holding 0..129), so integers are narrowed to u8 or u16 when every
//! value fits, and refused when they do not: silently wrapping or clipping
//! intensities would change what is in focus. Float64 becomes float32, which
//! is what the measures compute from anyway, but NaN and Inf are refused
//! because one of them would poison every window it touches.

use crate::error::{Error, Result};
use crate::stack::Stack;
use ndarray::{Array3, ShapeBuilder};
use std::path::Path;

/// Header texts longer than this are not NumPy arrays infocus could use.
const MAX_HEADER: usize = 1 << 20;
/// Nesting deeper than this in the header is not a plain array description.
const MAX_DEPTH: usize = 8;

/// Reads a `.npy` array as a stack: 2-D arrays give one slice (Z = 1), 3-D
/// arrays are Z x H x W.
///
/// Native dtypes are u1, u2 and f4; b1 and other integers are narrowed to u8
/// (all values in 0..=255) or u16 (all in 0..=65535); f8 becomes f32.
pub fn read_npy(path: &Path) -> Result<Stack> {
    let len = std::fs::metadata(path)
        .map_err(|e| Error::io(path, e))?
        .len();
    crate::limits::check(u128::from(len), &format!("reading a {len}-byte .npy file"))
        .map_err(|problem| Error::format(path, None, problem))?;
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    parse_npy(&bytes).map_err(|problem| Error::format(path, None, problem))
}

/// The parts of the header that matter.
struct Header {
    descr: String,
    fortran_order: bool,
    shape: Vec<usize>,
}

/// Element types infocus understands, with their byte order.
#[derive(Clone, Copy)]
struct Dtype {
    kind: char,
    size: usize,
    little: bool,
}

fn parse_npy(bytes: &[u8]) -> std::result::Result<Stack, String> {
    const MAGIC: &[u8] = b"\x93NUMPY";
    if bytes.len() < 10 || &bytes[..6] != MAGIC {
        return Err(
            "not a NumPy .npy file (the file does not start with the \\x93NUMPY signature)".into(),
        );
    }
    let major = bytes[6];
    let (hlen, start) = match major {
        1 => (usize::from(u16::from_le_bytes([bytes[8], bytes[9]])), 10),
        2 | 3 => {
            if bytes.len() < 12 {
                return Err("the file ends inside the .npy header (truncated?)".into());
            }
            let n = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
            (usize::try_from(n).unwrap_or(usize::MAX), 12)
        }
        v => {
            return Err(format!(
                ".npy format version {v}.{} is not supported (versions 1, 2 and 3 are)",
                bytes[7]
            ));
        }
    };
    if hlen > MAX_HEADER {
        return Err(format!(
            "the .npy header claims {hlen} bytes, far more than an array description needs"
        ));
    }
    let data_start = start + hlen;
    if bytes.len() < data_start {
        return Err(format!(
            "the file ends inside the .npy header ({} of {hlen} header bytes present; truncated?)",
            bytes.len() - start
        ));
    }
    let text = String::from_utf8_lossy(&bytes[start..data_start]);
    let header = parse_header(&text)?;
    let dtype = parse_descr(&header.descr)?;

    let shape = &header.shape;
    let (z, h, w) = match shape.as_slice() {
        [h, w] => (1, *h, *w),
        [z, h, w] => (*z, *h, *w),
        _ => {
            return Err(format!(
                "array has {} dimension(s) (shape {}); infocus needs a 2-D image (H x W) or a 3-D stack (Z x H x W)",
                shape.len(),
                shape_str(shape)
            ));
        }
    };
    if z == 0 || h == 0 || w == 0 {
        return Err(format!("array is empty (shape {})", shape_str(shape)));
    }
    let n = z
        .checked_mul(h)
        .and_then(|v| v.checked_mul(w))
        .ok_or_else(|| format!("array shape {} is too large", shape_str(shape)))?;
    let nbytes = n
        .checked_mul(dtype.size)
        .ok_or_else(|| format!("array shape {} is too large", shape_str(shape)))?;
    let data = &bytes[data_start..];
    if data.len() < nbytes {
        return Err(format!(
            "the file is truncated: shape {} of '{}' needs {nbytes} data bytes but only {} follow the header",
            shape_str(shape),
            header.descr,
            data.len()
        ));
    }
    if data.len() > nbytes {
        return Err(format!(
            "{} unexpected bytes follow the array data (shape {} of '{}'); the file is not a single .npy array",
            data.len() - nbytes,
            shape_str(shape),
            header.descr
        ));
    }
    // The converted array (Fortran order: twice, while it is reordered).
    let copies = if header.fortran_order { 2 } else { 1 };
    crate::limits::check(
        crate::limits::bytes_of(&[n, copies], 4),
        &format!("an array of shape {}", shape_str(shape)),
    )?;
    let ctx = Ctx {
        shape,
        fortran: header.fortran_order,
        zhw: (z, h, w),
    };
    match (dtype.kind, dtype.size) {
        ('u', 1) => Ok(Stack::U8(ctx.array(data.to_vec())?)),
        ('u', 2) => {
            let v = data
                .chunks_exact(2)
                .map(|c| {
                    let b = [c[0], c[1]];
                    if dtype.little {
                        u16::from_le_bytes(b)
                    } else {
                        u16::from_be_bytes(b)
                    }
                })
                .collect();
            Ok(Stack::U16(ctx.array(v)?))
        }
        ('b', 1) => Ok(Stack::U8(
            ctx.array(data.iter().map(|&b| u8::from(b != 0)).collect())?,
        )),
        ('u' | 'i', 1 | 2 | 4 | 8) => narrow_ints(data, dtype, &ctx),
        ('f', 4) => {
            let v = data
                .chunks_exact(4)
                .map(|c| {
                    let b = [c[0], c[1], c[2], c[3]];
                    if dtype.little {
                        f32::from_le_bytes(b)
                    } else {
                        f32::from_be_bytes(b)
                    }
                })
                .collect();
            Ok(Stack::F32(ctx.array(v)?))
        }
        ('f', 8) => {
            let mut v = Vec::with_capacity(n);
            for (k, c) in data.chunks_exact(8).enumerate() {
                let mut b = [0u8; 8];
                b.copy_from_slice(c);
                let x = if dtype.little {
                    f64::from_le_bytes(b)
                } else {
                    f64::from_be_bytes(b)
                };
                let y = x as f32;
                if !y.is_finite() {
                    let why = if x.is_finite() {
                        " (outside the float32 range)"
                    } else {
                        ""
                    };
                    return Err(format!(
                        "value {x}{why} at {}; infocus needs finite intensities: replace NaN/Inf before saving",
                        ctx.position(k)
                    ));
                }
                v.push(y);
            }
            Ok(Stack::F32(ctx.array(v)?))
        }
        _ => Err(format!(
            "dtype '{}' is not supported; infocus reads uint8, uint16 and float32 arrays, and converts bool, other integers and float64 when no value is lost",
            header.descr
        )),
    }
}

/// Shape and memory order, for building the array and naming positions.
struct Ctx<'a> {
    shape: &'a [usize],
    fortran: bool,
    zhw: (usize, usize, usize),
}

impl Ctx<'_> {
    /// Builds the Z x H x W array from elements in file order.
    fn array<T: Clone>(&self, v: Vec<T>) -> std::result::Result<Array3<T>, String> {
        let a = if self.fortran {
            Array3::from_shape_vec(self.zhw.f(), v)
        } else {
            Array3::from_shape_vec(self.zhw, v)
        };
        let a = a.map_err(|e| format!("array data does not match its shape: {e}"))?;
        Ok(if self.fortran {
            a.as_standard_layout().into_owned()
        } else {
            a
        })
    }

    /// The array index of the `k`-th element in file order, as "(i, j, ...)".
    fn position(&self, mut k: usize) -> String {
        let mut idx = vec![0usize; self.shape.len()];
        let axes: Vec<usize> = if self.fortran {
            (0..self.shape.len()).collect()
        } else {
            (0..self.shape.len()).rev().collect()
        };
        for a in axes {
            let d = self.shape[a].max(1);
            idx[a] = k % d;
            k /= d;
        }
        let parts: Vec<String> = idx.iter().map(|i| i.to_string()).collect();
        format!("index ({})", parts.join(", "))
    }
}

/// Narrows any integer array to u8 or u16 when every value fits.
fn narrow_ints(data: &[u8], dtype: Dtype, ctx: &Ctx<'_>) -> std::result::Result<Stack, String> {
    let signed = dtype.kind == 'i';
    let values = || int_values(data, dtype.size, signed, dtype.little);
    let (mut lo, mut hi, mut lo_at, mut hi_at) = (i128::MAX, i128::MIN, 0usize, 0usize);
    for (k, v) in values().enumerate() {
        if v < lo {
            lo = v;
            lo_at = k;
        }
        if v > hi {
            hi = v;
            hi_at = k;
        }
    }
    if lo < 0 {
        return Err(format!(
            "integer array has negative values (minimum {lo} at {}); infocus reads intensities 0..65535 or float32: shift or convert the array before saving",
            ctx.position(lo_at)
        ));
    }
    if hi <= 255 {
        Ok(Stack::U8(ctx.array(values().map(|v| v as u8).collect())?))
    } else if hi <= 65535 {
        Ok(Stack::U16(ctx.array(values().map(|v| v as u16).collect())?))
    } else {
        Err(format!(
            "integer array has values above 65535 (maximum {hi} at {}); infocus reads intensities 0..65535 or float32: rescale or convert to float32 before saving",
            ctx.position(hi_at)
        ))
    }
}

/// Integer elements of 1, 2, 4 or 8 bytes, widened to i128 (exact for all).
fn int_values(
    data: &[u8],
    size: usize,
    signed: bool,
    little: bool,
) -> impl Iterator<Item = i128> + '_ {
    data.chunks_exact(size).map(move |c| {
        let mut b = [0u8; 8];
        if little {
            b[..size].copy_from_slice(c);
        } else {
            for (dst, &src) in b.iter_mut().zip(c.iter().rev()) {
                *dst = src;
            }
        }
        let u = u64::from_le_bytes(b);
        if signed {
            let shift = 64 - 8 * size as u32;
            i128::from(((u << shift) as i64) >> shift)
        } else {
            i128::from(u)
        }
    })
}

fn shape_str(shape: &[usize]) -> String {
    let parts: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    format!("({})", parts.join(", "))
}

fn parse_descr(descr: &str) -> std::result::Result<Dtype, String> {
    let unsupported = || {
        format!(
            "dtype '{descr}' is not supported; infocus reads uint8, uint16 and float32 arrays, and converts bool, other integers and float64 when no value is lost"
        )
    };
    let mut chars = descr.chars();
    let order = chars.next().ok_or_else(unsupported)?;
    let rest: String = chars.collect();
    let (order, rest) = match order {
        '<' | '>' | '|' | '=' => (order, rest.as_str()),
        _ => ('=', descr),
    };
    let mut rc = rest.chars();
    let kind = rc.next().ok_or_else(unsupported)?;
    let size: usize = rc.as_str().parse().map_err(|_| unsupported())?;
    if !matches!(
        (kind, size),
        ('b', 1) | ('u' | 'i', 1 | 2 | 4 | 8) | ('f', 4 | 8)
    ) {
        return Err(unsupported());
    }
    let little = match order {
        '<' => true,
        '>' => false,
        _ => cfg!(target_endian = "little"),
    };
    Ok(Dtype { kind, size, little })
}

/// A value of the Python literal subset NumPy writes in headers.
enum PyVal {
    Str(String),
    Bool(bool),
    Int(u64),
    Tuple(Vec<PyVal>),
    /// Lists, None, nested dicts: legal Python, but not a plain array.
    Other,
}

struct Lexer<'a> {
    s: &'a [u8],
    i: usize,
}

impl Lexer<'_> {
    fn ws(&mut self) {
        while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.s.get(self.i).copied()
    }

    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn value(&mut self, depth: usize) -> std::result::Result<PyVal, String> {
        if depth > MAX_DEPTH {
            return Err(bad_header("nested too deeply"));
        }
        match self.peek() {
            Some(q @ (b'\'' | b'"')) => {
                self.i += 1;
                let start = self.i;
                while self.i < self.s.len() && self.s[self.i] != q {
                    if self.s[self.i] == b'\\' {
                        self.i += 1;
                    }
                    self.i += 1;
                }
                if self.i >= self.s.len() {
                    return Err(bad_header("unterminated string"));
                }
                let v = String::from_utf8_lossy(&self.s[start..self.i]).into_owned();
                self.i += 1;
                Ok(PyVal::Str(v))
            }
            Some(open @ (b'(' | b'[' | b'{')) => {
                self.i += 1;
                let close = match open {
                    b'(' => b')',
                    b'[' => b']',
                    _ => b'}',
                };
                let mut items = Vec::new();
                loop {
                    if self.eat(close) {
                        break;
                    }
                    items.push(self.value(depth + 1)?);
                    if open == b'{' && self.eat(b':') {
                        self.value(depth + 1)?;
                    }
                    if !self.eat(b',') {
                        if self.eat(close) {
                            break;
                        }
                        return Err(bad_header("expected ',' or a closing bracket"));
                    }
                }
                Ok(if open == b'(' {
                    PyVal::Tuple(items)
                } else {
                    PyVal::Other
                })
            }
            Some(c) if c.is_ascii_digit() => {
                let start = self.i;
                while self.i < self.s.len() && self.s[self.i].is_ascii_digit() {
                    self.i += 1;
                }
                // Python 2 wrote long integers with an L suffix.
                let digits = std::str::from_utf8(&self.s[start..self.i]).unwrap_or("");
                if self.i < self.s.len() && self.s[self.i] == b'L' {
                    self.i += 1;
                }
                digits
                    .parse()
                    .map(PyVal::Int)
                    .map_err(|_| bad_header("a dimension is too large"))
            }
            Some(c) if c.is_ascii_alphabetic() => {
                let start = self.i;
                while self.i < self.s.len() && self.s[self.i].is_ascii_alphanumeric() {
                    self.i += 1;
                }
                Ok(match &self.s[start..self.i] {
                    b"True" => PyVal::Bool(true),
                    b"False" => PyVal::Bool(false),
                    _ => PyVal::Other,
                })
            }
            Some(_) => Err(bad_header("unexpected character")),
            None => Err(bad_header("it ends early")),
        }
    }
}

fn bad_header(why: &str) -> String {
    format!("the .npy header is not a valid array description ({why})")
}

fn parse_header(text: &str) -> std::result::Result<Header, String> {
    let mut lx = Lexer {
        s: text.as_bytes(),
        i: 0,
    };
    if !lx.eat(b'{') {
        return Err(bad_header("it does not start with '{'"));
    }
    let (mut descr, mut fortran, mut shape) = (None, None, None);
    loop {
        if lx.eat(b'}') {
            break;
        }
        let key = match lx.value(1)? {
            PyVal::Str(k) => k,
            _ => return Err(bad_header("a key is not a string")),
        };
        if !lx.eat(b':') {
            return Err(bad_header("expected ':' after a key"));
        }
        let val = lx.value(1)?;
        match key.as_str() {
            "descr" => match val {
                PyVal::Str(d) => descr = Some(d),
                _ => {
                    return Err(
                        "the array has a structured (record) dtype; infocus needs a plain numeric array".into(),
                    );
                }
            },
            "fortran_order" => match val {
                PyVal::Bool(b) => fortran = Some(b),
                _ => return Err(bad_header("'fortran_order' is not True or False")),
            },
            "shape" => match val {
                PyVal::Tuple(items) => {
                    let mut dims = Vec::with_capacity(items.len());
                    for it in items {
                        match it {
                            PyVal::Int(d) => dims.push(
                                usize::try_from(d)
                                    .map_err(|_| bad_header("a dimension is too large"))?,
                            ),
                            _ => {
                                return Err(bad_header(
                                    "'shape' holds something other than integers",
                                ));
                            }
                        }
                    }
                    shape = Some(dims);
                }
                _ => return Err(bad_header("'shape' is not a tuple")),
            },
            _ => {}
        }
        if !lx.eat(b',') {
            if lx.eat(b'}') {
                break;
            }
            return Err(bad_header("expected ',' or '}'"));
        }
    }
    Ok(Header {
        descr: descr.ok_or_else(|| bad_header("no 'descr'"))?,
        fortran_order: fortran.ok_or_else(|| bad_header("no 'fortran_order'"))?,
        shape: shape.ok_or_else(|| bad_header("no 'shape'"))?,
    })
}
