//! Tests of damage merging and row spans.

use super::*;

fn rect(x: u32, y: u32, width: u32, height: u32) -> Rect {
    Rect {
        x,
        y,
        width,
        height,
    }
}

/// A small deterministic generator, so failures reproduce.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, below: u32) -> u32 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) % u64::from(below)) as u32
    }
}

fn covered(rects: &[Rect], x: u32, y: u32) -> bool {
    rects
        .iter()
        .any(|r| x >= r.x && x < r.x + r.width && y >= r.y && y < r.y + r.height)
}

#[test]
fn few_disjoint_rects_stay_exact() {
    let input = vec![rect(0, 0, 10, 10), rect(100, 100, 5, 5)];
    let mut rects = input.clone();
    merge_rects(&mut rects, 4);
    assert_eq!(rects, input);
}

#[test]
fn empty_and_contained_rects_are_dropped() {
    let mut rects = vec![rect(0, 0, 50, 50), rect(10, 10, 5, 5), rect(3, 3, 0, 9)];
    merge_rects(&mut rects, 8);
    assert_eq!(rects, vec![rect(0, 0, 50, 50)]);
}

#[test]
fn merging_prefers_neighbours() {
    // Two rectangles side by side and one far away: the neighbours merge, the far one stays.
    let mut rects = vec![
        rect(0, 0, 10, 10),
        rect(10, 0, 10, 10),
        rect(500, 500, 10, 10),
    ];
    merge_rects(&mut rects, 2);
    rects.sort_by_key(|r| (r.y, r.x));
    assert_eq!(rects, vec![rect(0, 0, 20, 10), rect(500, 500, 10, 10)]);
}

#[test]
fn any_input_is_covered_by_at_most_max_rects() {
    let mut rng = Lcg(7);
    for round in 0..200 {
        let n = 1 + rng.next(300) as usize;
        let max = 1 + rng.next(20) as usize;
        let input: Vec<Rect> = (0..n)
            .map(|_| rect(rng.next(200), rng.next(200), rng.next(30), rng.next(30)))
            .collect();
        let mut rects = input.clone();
        merge_rects(&mut rects, max);
        assert!(rects.len() <= max, "round {round}: {} > {max}", rects.len());
        for r in &input {
            for y in r.y..r.y + r.height {
                for x in r.x..r.x + r.width {
                    assert!(covered(&rects, x, y), "round {round}: ({x},{y}) lost");
                }
            }
        }
    }
}

#[test]
fn clipping_translates_into_the_area() {
    let area = rect(100, 50, 200, 100);
    assert_eq!(clip_to(90, 40, 20, 20, area), Some(rect(0, 0, 10, 10)));
    assert_eq!(
        clip_to(250, 120, 100, 100, area),
        Some(rect(150, 70, 50, 30))
    );
    assert_eq!(clip_to(0, 0, 100, 50, area), None);
    assert_eq!(
        clip_to(-5, -5, 10, 10, rect(0, 0, 4, 4)),
        Some(rect(0, 0, 4, 4))
    );
}

#[test]
fn rows_merge_overlaps_and_stay_bounded() {
    let mut rows = Rows::default();
    rows.add(10, 20);
    rows.add(15, 30);
    rows.add(40, 41);
    assert_eq!(rows.spans(), &[(10, 30), (40, 41)]);
    assert_eq!(rows.count(), 21);
    for i in 0..50 {
        rows.add(100 + i * 10, 101 + i * 10);
    }
    assert!(rows.spans().len() <= Rows::MAX_SPANS);
    // Joining never loses a row.
    for i in 0..50 {
        let y = 100 + i * 10;
        assert!(rows.spans().iter().any(|&(s, e)| y >= s && y < e));
    }
    rows.clear();
    assert_eq!(rows.count(), 0);
}

/// The spans a naive model keeps: every row added, as a set.
fn rows_covered(rows: &Rows) -> Vec<u32> {
    rows.spans().iter().flat_map(|&(s, e)| s..e).collect()
}

#[test]
fn rows_match_a_set_model_while_under_the_bound() {
    // Deterministic pseudo-random spans over a small range, so merges and inserts both happen.
    let mut seed = 0x2545_f491_u32;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        seed
    };
    for _ in 0..200 {
        let mut rows = Rows::default();
        let mut model = std::collections::BTreeSet::new();
        for _ in 0..6 {
            let start = next() % 200;
            let end = start + next() % 30;
            rows.add(start, end);
            model.extend(start..end);
            // Sorted, disjoint and not touching.
            for pair in rows.spans().windows(2) {
                assert!(pair[0].1 < pair[1].0, "{:?}", rows.spans());
            }
            for &(s, e) in rows.spans() {
                assert!(s < e);
            }
            if rows.spans().len() < Rows::MAX_SPANS {
                // No join happened yet: exactly the model's rows.
                assert_eq!(
                    rows_covered(&rows),
                    model.iter().copied().collect::<Vec<_>>()
                );
            }
        }
        // With joins, every row added is still covered.
        let have: std::collections::BTreeSet<u32> = rows_covered(&rows).into_iter().collect();
        assert!(model.is_subset(&have));
    }
}

#[test]
fn rows_join_the_closest_neighbours_beyond_the_bound() {
    let mut rows = Rows::default();
    for i in 0..Rows::MAX_SPANS as u32 {
        rows.add(i * 100, i * 100 + 10);
    }
    // The ninth span is 5 rows from its neighbour at 700..710; every other gap is 90.
    rows.add(715, 720);
    assert_eq!(rows.spans().len(), Rows::MAX_SPANS);
    assert_eq!(rows.spans()[7], (700, 720));
    // A span that bridges everything folds the set into one.
    rows.add(0, 1000);
    assert_eq!(rows.spans(), &[(0, 1000)]);
    assert_eq!(rows.count(), 1000);
}
