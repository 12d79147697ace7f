//! Checks the literal oracles themselves (tests/common/literal.rs) against
//! values worked out by hand, so that a wrong oracle cannot bless wrong fast
//! code. Needs nothing of the fast implementation.

mod common;

use common::literal::{self, MEASURES};
use ndarray::{Array2, Array3, array, s};

/// The 4 x 5 window every measure is worked out on:
///
/// ```text
///   1  2  4  7 11
///   2  2  5  3  0
///   0  9  1  1  6
///   3  3  8  2  5
/// ```
fn m() -> Array2<f64> {
    array![
        [1., 2., 4., 7., 11.],
        [2., 2., 5., 3., 0.],
        [0., 9., 1., 1., 6.],
        [3., 3., 8., 2., 5.],
    ]
}

/// The hand-computed score of `m()` for every measure (entropy on u8 bins,
/// i.e. the raw values).
fn hand_values() -> Vec<(&'static str, f64)> {
    vec![
        // Sum 75, n 20, mean 3.75; sum of squares 191 + 42 + 119 + 111 = 463;
        // variance 463 / 20 - 3.75^2 = 23.15 - 14.0625.
        ("variance", 9.0875),
        ("std", 9.0875f64.sqrt()),
        // Rows' horizontal differences (1,2,3,4), (0,3,-2,-3), (9,-8,0,5),
        // (0,5,-6,3): squares 30 + 22 + 170 + 70.
        ("brenner", 292.0),
        // Interior pixels (1,1) (1,2) (1,3) (2,1) (2,2) (2,3):
        // (Sx, Sy) = (10,10) (-1,-5) (2,-20) (10,6) (-16,6) (2,6);
        // Sx^2 + Sy^2 = 200 + 26 + 404 + 136 + 292 + 40.
        ("tenengrad", 1098.0),
        // Horizontal |second differences| per row 3 + 9 + 30 + 25 = 67;
        // vertical, rows 1 and 2: (3+7+5+2+17) + (5+13+11+3+7) = 34 + 39 = 73.
        ("laplacian", 140.0),
        // Vertical |differences| 17 + 21 + 18 = 56; horizontal 10 + 8 + 22 + 14 = 54.
        ("smd", 110.0),
        // Lag 1: 115 + 29 + 16 + 59 = 219; lag 2: 62 + 16 + 15 + 70 = 163.
        ("vollath", 56.0),
        // Values 0:2 1:3 2:4 3:3 4:1 5:2 6:1 7:1 8:1 9:1 11:1 (n = 20);
        // H = log2(20) - sum(c log2 c) / 20 = log2(20) - (12 + 6 log2 3) / 20.
        ("entropy", 20f64.log2() - (12.0 + 6.0 * 3f64.log2()) / 20.0),
        // Blocks [[1,2],[2,2]] [[4,7],[5,3]] [[0,9],[3,3]] [[1,1],[8,2]] (column 4
        // has no whole block): LL 7, 19, 15, 12 -> 49 + 361 + 225 + 144 = 779;
        // (LH, HL, HH) = (-1,-1,-1) (3,-1,-5) (3,-9,-9) (-8,6,-6)
        // -> 3 + 35 + 171 + 136 = 345.
        ("dwt", (345.0f64 / 779.0).sqrt()),
    ]
}

fn u8_bins(a: &Array2<f64>) -> Array2<u8> {
    a.mapv(|v| v as u8)
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-12 * b.abs().max(1.0)
}

#[test]
fn every_measure_is_covered() {
    let names: Vec<_> = hand_values().iter().map(|(n, _)| *n).collect();
    for m in MEASURES {
        assert!(names.contains(&m), "no hand value for {m}");
    }
}

#[test]
fn hand_computed_4x5_window() {
    let img = m();
    let bins = u8_bins(&img);
    for (name, want) in hand_values() {
        let got = literal::window_score(name, &img, 0, 4, 0, 5, Some(&bins));
        assert!(close(got, want), "{name}: oracle {got}, by hand {want}");
    }
}

/// The same window inside a larger slice, surrounded by large values: no
/// stencil may reach outside the window, and blocks anchor at its origin.
#[test]
fn window_inside_a_larger_slice() {
    let mut big = Array2::<f64>::from_elem((7, 9), 200.0);
    for ((y, x), v) in big.indexed_iter_mut() {
        *v += ((7 * y + 3 * x) % 11) as f64 * 5.0;
    }
    big.slice_mut(s![1..5, 2..7]).assign(&m());
    let bins = u8_bins(&big);
    for (name, want) in hand_values() {
        let got = literal::window_score(name, &big, 1, 5, 2, 7, Some(&bins));
        assert!(close(got, want), "{name}: oracle {got}, by hand {want}");
    }
}

/// Windows smaller than a stencil score 0 for that term.
#[test]
fn small_windows() {
    let img = m();
    let bins = u8_bins(&img);
    let score =
        |name, y0, y1, x0, x1| literal::window_score(name, &img, y0, y1, x0, x1, Some(&bins));
    // 1 x 1 window: nothing varies, no pair, no block.
    for name in MEASURES {
        assert_eq!(score(name, 2, 3, 1, 2), 0.0, "{name} on 1x1");
    }
    // 2 x 2 window [[1,2],[2,2]].
    assert_eq!(score("brenner", 0, 2, 0, 2), 1.0);
    assert_eq!(score("tenengrad", 0, 2, 0, 2), 0.0);
    assert_eq!(score("laplacian", 0, 2, 0, 2), 0.0);
    assert_eq!(score("smd", 0, 2, 0, 2), 2.0); // vertical |1| + |0|, horizontal |1| + |0|
    assert_eq!(score("vollath", 0, 2, 0, 2), 6.0); // 1*2 + 2*2, no lag-2 pair
    assert!(close(score("dwt", 0, 2, 0, 2), (3.0f64 / 49.0).sqrt()));
    assert!(close(score("variance", 0, 2, 0, 2), 0.1875)); // mean 1.75
    assert!(close(
        score("entropy", 0, 2, 0, 2),
        2.0 - 0.75 * 3f64.log2()
    )); // counts 1, 3
    // 1 x 5 row [1 2 4 7 11]: horizontal terms only.
    assert_eq!(score("brenner", 0, 1, 0, 5), 30.0);
    assert_eq!(score("laplacian", 0, 1, 0, 5), 3.0);
    assert_eq!(score("smd", 0, 1, 0, 5), 10.0);
    assert_eq!(score("vollath", 0, 1, 0, 5), 115.0 - 62.0);
    assert_eq!(score("tenengrad", 0, 1, 0, 5), 0.0);
    assert_eq!(score("dwt", 0, 1, 0, 5), 0.0);
    // 4 x 1 column [1 2 0 3]: vertical terms only.
    assert_eq!(score("brenner", 0, 4, 0, 1), 0.0);
    assert_eq!(score("laplacian", 0, 4, 0, 1), 3.0 + 5.0);
    assert_eq!(score("smd", 0, 4, 0, 1), 1.0 + 2.0 + 3.0);
    assert_eq!(score("vollath", 0, 4, 0, 1), 0.0);
    // 3 x 3 window: one Sobel pixel, (1,1) above.
    assert_eq!(score("tenengrad", 0, 3, 0, 3), 200.0);
    // 3 x 3 window: one 2 x 2 block, the rest left out.
    assert!(close(score("dwt", 0, 3, 0, 3), (3.0f64 / 49.0).sqrt()));
    // All-zero block: dwt is 0, not NaN.
    let zeros = Array2::<f64>::zeros((4, 4));
    assert_eq!(literal::window_score("dwt", &zeros, 0, 4, 0, 4, None), 0.0);
}

#[test]
fn entropy_bins_u16_and_f32() {
    // Whole-stack range [-1, 1]: b = min(255, floor(256 (v + 1) / 2)).
    let st = Array3::from_shape_vec((2, 1, 4), vec![-1.0, 0.0, 1.0, 0.99, -0.99, 0.5, -1.0, 1.0])
        .unwrap();
    let b = literal::entropy_bins(&st, false);
    assert_eq!(
        b.iter().copied().collect::<Vec<_>>(),
        vec![0, 128, 255, 254, 1, 192, 0, 255]
    );
    // u16 range: the stack's own min and max, not 0..65535.
    let st = Array3::from_shape_vec((1, 1, 4), vec![1000.0, 1001.0, 1500.0, 2000.0]).unwrap();
    let b = literal::entropy_bins(&st, false);
    assert_eq!(b.iter().copied().collect::<Vec<_>>(), vec![0, 0, 128, 255]);
    // Constant stack: everything in bin 0.
    let st = Array3::from_elem((1, 2, 2), 7.0);
    assert!(literal::entropy_bins(&st, false).iter().all(|&v| v == 0));
    // u8: the raw value, whatever the stack's range.
    let st = Array3::from_shape_vec((1, 1, 3), vec![3.0, 4.0, 200.0]).unwrap();
    assert_eq!(
        literal::entropy_bins(&st, true)
            .iter()
            .copied()
            .collect::<Vec<_>>(),
        vec![3, 4, 200]
    );
    // One window holding bins 0 and 255 equally often: 1 bit.
    let st = Array3::from_shape_vec((1, 2, 2), vec![0.0, 65535.0, 65535.0, 0.0]).unwrap();
    let map = literal::literal_map(&st, false, "entropy", 2, &[2]);
    assert!(map.iter().all(|&v| v == 1.0), "{map:?}");
}

/// The sliding scheme on a 3 x 3 slice i(y, x) = 3y + x, brenner (every
/// horizontal difference is 1, so a window scores rows x (cols - 1)).
#[test]
fn sliding_scheme_by_hand() {
    let st = Array3::from_shape_fn((1, 3, 3), |(_, y, x)| (3 * y + x) as f64);
    // Window 2, stride 1: origins 0, 1, 2 each way, clipped at the edge.
    // Window (y0, x0) scores rows(y0) * [x0 < 2], rows = 2, 2, 1. A pixel sums
    // the windows with y0 in {y-1, y}, x0 in {x-1, x}: R(y) = 2, 4, 3 and
    // C(x) = 1, 2, 1, so the map is R(y) C(x).
    let stride1 = array![[[2.0f32, 4.0, 2.0], [4.0, 8.0, 4.0], [3.0, 6.0, 3.0]]];
    assert_eq!(
        literal::literal_map(&st, false, "brenner", 2, &[1]),
        stride1
    );
    // Stride 2: origins 0, 2; windows rows 0..2 | 2..3, cols 0..2 | 2..3.
    let stride2 = array![[[2.0f32, 2.0, 0.0], [2.0, 2.0, 0.0], [1.0, 1.0, 0.0]]];
    assert_eq!(
        literal::literal_map(&st, false, "brenner", 2, &[2]),
        stride2
    );
    // Stride 3: the one window rows 0..2, cols 0..2, score 2.
    let stride3 = array![[[2.0f32, 2.0, 0.0], [2.0, 2.0, 0.0], [0.0, 0.0, 0.0]]];
    assert_eq!(
        literal::literal_map(&st, false, "brenner", 2, &[3]),
        stride3
    );
    // The maximum over strides, in any order.
    assert_eq!(
        literal::literal_map(&st, false, "brenner", 2, &[3, 2]),
        stride2
    );
    assert_eq!(
        literal::literal_map(&st, false, "brenner", 2, &[2, 1, 3]),
        stride1
    );
    // A window larger than the slice: one window, the whole slice, at stride 5.
    // brenner 3 x 2 = 6 on every pixel.
    assert_eq!(
        literal::literal_map(&st, false, "brenner", 10, &[5]),
        Array3::from_elem((1, 3, 3), 6.0f32)
    );
    // Vollath can be negative, and the maximum keeps the larger (less negative).
    // Row [3 0 5 1], window 3: windows at x0 = 0 [3 0 5] -> 0 - 15 = -15,
    // x0 = 1 [0 5 1] -> 5, x0 = 2 [5 1] -> 5, x0 = 3 [1] -> 0.
    let row = Array3::from_shape_vec((1, 1, 4), vec![3.0, 0.0, 5.0, 1.0]).unwrap();
    // Stride 3: x0 = 0, 3.
    assert_eq!(
        literal::literal_map(&row, false, "vollath", 3, &[3]),
        array![[[-15.0f32, -15.0, -15.0, 0.0]]]
    );
    // Stride 2: x0 = 0, 2.
    assert_eq!(
        literal::literal_map(&row, false, "vollath", 3, &[2]),
        array![[[-15.0f32, -15.0, -10.0, 5.0]]]
    );
    assert_eq!(
        literal::literal_map(&row, false, "vollath", 3, &[3, 2]),
        array![[[-15.0f32, -15.0, -10.0, 5.0]]]
    );
    // Stride 1: all four.
    assert_eq!(
        literal::literal_map(&row, false, "vollath", 3, &[2, 1, 3]),
        array![[[-15.0f32, -10.0, -5.0, 10.0]]]
    );
}

/// Slices are independent; std is the population std, summed over windows.
#[test]
fn stack_is_slice_by_slice() {
    let a = m();
    let mut st = Array3::<f64>::zeros((2, 4, 5));
    st.slice_mut(s![0, .., ..]).assign(&a);
    st.slice_mut(s![1, .., ..])
        .assign(&a.mapv(|v| 2.0 * v + 1.0));
    // Window 5, stride 8: one window, the whole slice.
    let map = literal::literal_map(&st, false, "std", 5, &[8]);
    let std0 = 9.0875f64.sqrt();
    assert!(map.slice(s![0, .., ..]).iter().all(|&v| v == std0 as f32));
    assert!(
        map.slice(s![1, .., ..])
            .iter()
            .all(|&v| v == (2.0 * std0) as f32)
    );
}

/// The oracle's variance is the two-pass one: exactly 0 for a constant window
/// even where a one-pass formula would round (0.1 is not a binary fraction).
#[test]
fn constant_gives_exact_zero() {
    let st = Array3::from_elem((1, 5, 6), 0.1f32 as f64);
    for name in MEASURES {
        let map = literal::literal_map(&st, false, name, 3, &[1, 2]);
        if name == "vollath" {
            // Not 0 for a constant: c^2 per lag-1 pair minus c^2 per lag-2 pair.
            continue;
        }
        assert!(map.iter().all(|&v| v == 0.0), "{name}: {map:?}");
    }
}
