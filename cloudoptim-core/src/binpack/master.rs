//! The restricted master of column generation: a covering LP solved by a
//! primal revised simplex that keeps its basis as columns are added.
//!
//! ```text
//! minimize   Σ_j cost_j · x_j
//! subject to Σ_j a_k,j · x_j ≥ demand_k     every row k
//!            x_j ≥ 0
//! ```
//!
//! Column generation adds a few columns at a time and re-solves. Solving
//! from scratch each round (as a general LP library does) costs a
//! factorization and every pivot again; here the last optimal basis stays
//! primal feasible when columns are added, so each round only pivots the
//! new columns in. Rows are few (one per pod kind, at most a few hundred),
//! so `B⁻¹` is kept dense and updated in place, and refactorized from the
//! basis every [`REFACTOR_EVERY`] pivots against drift.
//!
//! Row `k` starts with a column holding only row `k` (one pod on the
//! cheapest node that takes it), so the first basis is the identity and
//! feasible, and the LP is never infeasible. Each row has a surplus
//! variable (`Σ a x − s = demand`). Degenerate pivots are common in
//! covering problems: the ratio test is Harris's two-pass one, and after a
//! run of degenerate pivots the entering column is chosen by Bland's rule,
//! which cannot cycle.

/// Pivots between two refactorizations of `B⁻¹` (at least as many as rows,
/// so refactorizing costs no more than the pivots it follows).
const REFACTOR_EVERY: usize = 100;
/// Degenerate pivots in a row before Bland's rule takes over.
const DEGENERATE_RUN: usize = 50;
/// Optimality tolerance on a reduced cost, relative to the column's cost.
const OPTIMAL: f64 = 1e-9;
/// Smallest pivot element accepted.
const PIVOT: f64 = 1e-9;
/// Primal feasibility tolerance of Harris's ratio test.
const FEASIBLE: f64 = 1e-9;

/// Why a solve stopped short of an optimum.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stop {
    /// The pivot budget ran out (the basis is still feasible).
    Pivots,
    /// The basis became numerically singular.
    Singular,
}

/// A covering LP and its current basis.
pub(crate) struct CoverLp {
    demand: Vec<f64>,
    costs: Vec<f64>,
    /// Each column's nonzero entries `(row, coefficient)`.
    entries: Vec<Vec<(usize, f64)>>,
    /// The variable basic in each row: `j < columns` is column `j`,
    /// `columns_cap + k` is row `k`'s surplus (see [`CoverLp::surplus`]).
    basis: Vec<Var>,
    /// Whether each column is basic.
    basic: Vec<bool>,
    /// Whether each row's surplus is basic.
    surplus_basic: Vec<bool>,
    /// `B⁻¹`, row-major, `rows × rows`.
    inverse: Vec<f64>,
    /// The basic variables' values, by row.
    values: Vec<f64>,
    /// The dual prices `c_B B⁻¹`, updated with each pivot.
    y: Vec<f64>,
    since_refactor: usize,
    degenerate: usize,
}

/// A variable of the LP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Var {
    Column(usize),
    Surplus(usize),
}

impl CoverLp {
    /// The LP with one starting column per row: column `k` holds one unit
    /// of row `k` at `single_costs[k]`. Columns added later are numbered
    /// from `demand.len()`. Missing single costs are taken as the largest
    /// given (or 1), extra ones are ignored.
    pub(crate) fn new(demand: &[u32], single_costs: &[f64]) -> Self {
        let rows = demand.len();
        let fallback = single_costs.iter().copied().fold(1.0f64, f64::max);
        let single_costs: Vec<f64> = (0..rows)
            .map(|k| single_costs.get(k).copied().unwrap_or(fallback))
            .collect();
        let mut inverse = vec![0.0; rows * rows];
        for (k, row) in inverse.chunks_exact_mut(rows.max(1)).enumerate() {
            if let Some(v) = row.get_mut(k) {
                *v = 1.0;
            }
        }
        CoverLp {
            demand: demand.iter().map(|&d| f64::from(d)).collect(),
            costs: single_costs.clone(),
            entries: (0..rows).map(|k| vec![(k, 1.0)]).collect(),
            basis: (0..rows).map(Var::Column).collect(),
            basic: vec![true; rows],
            surplus_basic: vec![false; rows],
            inverse,
            values: demand.iter().map(|&d| f64::from(d)).collect(),
            y: single_costs,
            since_refactor: 0,
            degenerate: 0,
        }
    }

    /// Add a column (nonbasic, at zero) and return its number. Entries on
    /// rows that do not exist are dropped.
    pub(crate) fn add_column(&mut self, cost: f64, entries: &[(usize, f64)]) -> usize {
        let rows = self.demand.len();
        self.costs.push(cost);
        self.entries.push(
            entries
                .iter()
                .copied()
                .filter(|&(k, a)| k < rows && a != 0.0)
                .collect(),
        );
        self.basic.push(false);
        self.costs.len() - 1
    }

    fn cost(&self, v: Var) -> f64 {
        match v {
            Var::Column(j) => self.costs.get(j).copied().unwrap_or(0.0),
            Var::Surplus(_) => 0.0,
        }
    }

    /// The dual price of each row, `c_B B⁻¹`.
    pub(crate) fn duals(&self) -> Vec<f64> {
        self.y.clone()
    }

    /// `c_B B⁻¹` from the current inverse.
    fn compute_duals(&self) -> Vec<f64> {
        let rows = self.demand.len();
        let mut y = vec![0.0; rows];
        for (&b, row) in self
            .basis
            .iter()
            .zip(self.inverse.chunks_exact(rows.max(1)))
        {
            let c = self.cost(b);
            if c != 0.0 {
                for (yk, r) in y.iter_mut().zip(row) {
                    *yk += c * r;
                }
            }
        }
        y
    }

    /// The value of each column in the current basic solution.
    pub(crate) fn primal(&self) -> Vec<f64> {
        let mut x = vec![0.0; self.costs.len()];
        for (&b, &v) in self.basis.iter().zip(&self.values) {
            if let Var::Column(j) = b {
                if let Some(slot) = x.get_mut(j) {
                    *slot = v.max(0.0);
                }
            }
        }
        x
    }

    /// The objective of the current basic solution.
    pub(crate) fn objective(&self) -> f64 {
        self.basis
            .iter()
            .zip(&self.values)
            .map(|(&b, &v)| self.cost(b) * v.max(0.0))
            .sum()
    }

    /// `B⁻¹ a` for variable `v`.
    fn column_image(&self, v: Var) -> Vec<f64> {
        let rows = self.demand.len();
        let mut alpha = vec![0.0; rows];
        let mut add = |k: usize, a: f64| {
            for (out, row) in alpha.iter_mut().zip(self.inverse.chunks_exact(rows.max(1))) {
                *out += row.get(k).copied().unwrap_or(0.0) * a;
            }
        };
        match v {
            Var::Column(j) => {
                for &(k, a) in self.entries.get(j).map(Vec::as_slice).unwrap_or(&[]) {
                    add(k, a);
                }
            }
            Var::Surplus(k) => add(k, -1.0),
        }
        alpha
    }

    /// The entering variable at duals `y`, if any improves: the most
    /// negative reduced cost relative to the column's cost, or with
    /// `bland` the first one that is negative.
    fn entering(&self, y: &[f64], bland: bool) -> Option<(Var, f64)> {
        let mut best: Option<(f64, Var, f64)> = None;
        for (j, (cost, entries)) in self.costs.iter().zip(&self.entries).enumerate() {
            if self.basic.get(j).copied().unwrap_or(true) {
                continue;
            }
            let value: f64 = entries
                .iter()
                .map(|&(k, a)| a * y.get(k).copied().unwrap_or(0.0))
                .sum();
            let scale = cost.abs().max(1e-6);
            let reduced = (cost - value) / scale;
            if reduced < -OPTIMAL {
                if bland {
                    return Some((Var::Column(j), cost - value));
                }
                if best.is_none_or(|(b, _, _)| reduced < b) {
                    best = Some((reduced, Var::Column(j), cost - value));
                }
            }
        }
        // A surplus's reduced cost is `y_k`: the row is over-covered yet priced.
        let scale = self.costs.iter().copied().fold(0.0f64, f64::max).max(1e-6);
        for (k, &yk) in y.iter().enumerate() {
            if self.surplus_basic.get(k).copied().unwrap_or(true) {
                continue;
            }
            let reduced = yk / scale;
            if reduced < -OPTIMAL {
                if bland && best.is_none() {
                    return Some((Var::Surplus(k), yk));
                }
                if best.is_none_or(|(b, _, _)| reduced < b) {
                    best = Some((reduced, Var::Surplus(k), yk));
                }
            }
        }
        best.map(|(_, v, d)| (v, d))
    }

    /// Harris's two-pass ratio test: the row that leaves, if any blocks.
    fn leaving(&self, alpha: &[f64], bland: bool) -> Option<usize> {
        let mut bound = f64::INFINITY;
        for (&a, &x) in alpha.iter().zip(&self.values) {
            if a > PIVOT {
                bound = bound.min((x.max(0.0) + FEASIBLE) / a);
            }
        }
        if !bound.is_finite() {
            return None;
        }
        let mut best: Option<(usize, f64)> = None;
        for (i, (&a, &x)) in alpha.iter().zip(&self.values).enumerate() {
            if a > PIVOT && x.max(0.0) / a <= bound {
                let better = match best {
                    None => true,
                    Some((bi, ba)) => {
                        if bland {
                            self.basis.get(i).map(key) < self.basis.get(bi).map(key)
                        } else {
                            a > ba
                        }
                    }
                };
                if better {
                    best = Some((i, a));
                }
            }
        }
        best.map(|(i, _)| i)
    }

    /// Pivot to optimality from the current basis, at most `max_pivots`
    /// pivots. Returns the pivots made.
    pub(crate) fn solve(&mut self, max_pivots: usize) -> Result<usize, Stop> {
        let rows = self.demand.len();
        if rows == 0 {
            return Ok(0);
        }
        let mut pivots = 0;
        let mut unblocked = false;
        loop {
            let bland = self.degenerate >= DEGENERATE_RUN;
            let Some((q, reduced)) = self.entering(&self.y, bland) else {
                return Ok(pivots);
            };
            if pivots >= max_pivots {
                return Err(Stop::Pivots);
            }
            let alpha = self.column_image(q);
            let Some(r) = self.leaving(&alpha, bland) else {
                // No row blocks: the objective would fall without end,
                // which nonnegative costs rule out; only drift does this.
                // Refactorize and look again; a second time, the column
                // only looked improving within rounding: stop there.
                if unblocked {
                    return Ok(pivots);
                }
                unblocked = true;
                self.refactor()?;
                continue;
            };
            self.pivot(q, r, &alpha, reduced);
            pivots += 1;
            self.since_refactor += 1;
            if self.since_refactor >= REFACTOR_EVERY.max(rows) {
                self.refactor()?;
            }
        }
    }

    /// Bring `q` (of reduced cost `reduced`) into the basis at row `r`.
    fn pivot(&mut self, q: Var, r: usize, alpha: &[f64], reduced: f64) {
        let rows = self.demand.len();
        let pivot = alpha.get(r).copied().unwrap_or(1.0);
        // Row r of B⁻¹ is divided by the pivot, then eliminated from the others.
        let pivot_row: Vec<f64> = self
            .inverse
            .chunks_exact(rows.max(1))
            .nth(r)
            .map(|row| row.iter().map(|v| v / pivot).collect())
            .unwrap_or_default();
        if pivot_row.len() != rows {
            return;
        }
        let step = self.values.get(r).copied().unwrap_or(0.0).max(0.0) / pivot;
        if step > FEASIBLE {
            self.degenerate = 0;
        } else {
            self.degenerate += 1;
        }
        for (i, (x, &a)) in self.values.iter_mut().zip(alpha).enumerate() {
            *x = if i == r { step } else { *x - step * a };
        }
        for (i, (row, &a)) in self
            .inverse
            .chunks_exact_mut(rows.max(1))
            .zip(alpha)
            .enumerate()
        {
            if i == r {
                row.copy_from_slice(&pivot_row);
            } else if a != 0.0 {
                for (v, p) in row.iter_mut().zip(&pivot_row) {
                    *v -= a * p;
                }
            }
        }
        // The new duals: y + reduced · (row r of the new B⁻¹).
        for (y, p) in self.y.iter_mut().zip(&pivot_row) {
            *y += reduced * p;
        }
        if let Some(out) = self.basis.get(r).copied() {
            self.set_basic(out, false);
        }
        self.set_basic(q, true);
        if let Some(slot) = self.basis.get_mut(r) {
            *slot = q;
        }
    }

    fn set_basic(&mut self, v: Var, basic: bool) {
        let slot = match v {
            Var::Column(j) => self.basic.get_mut(j),
            Var::Surplus(k) => self.surplus_basic.get_mut(k),
        };
        if let Some(slot) = slot {
            *slot = basic;
        }
    }

    /// Recompute `B⁻¹` from the basis (Gauss–Jordan, partial pivoting) and
    /// the basic values from it.
    fn refactor(&mut self) -> Result<(), Stop> {
        let rows = self.demand.len();
        let width = 2 * rows;
        // [B | I], row-major.
        let mut m = vec![0.0; rows * width];
        for (i, &b) in self.basis.iter().enumerate() {
            match b {
                Var::Column(j) => {
                    for &(k, a) in self.entries.get(j).map(Vec::as_slice).unwrap_or(&[]) {
                        if let Some(v) = m.get_mut(k * width + i) {
                            *v = a;
                        }
                    }
                }
                Var::Surplus(k) => {
                    if let Some(v) = m.get_mut(k * width + i) {
                        *v = -1.0;
                    }
                }
            }
        }
        for (k, row) in m.chunks_exact_mut(width).enumerate() {
            if let Some(v) = row.get_mut(rows + k) {
                *v = 1.0;
            }
        }
        for col in 0..rows {
            let (p, best) = (col..rows)
                .map(|r| (r, m.get(r * width + col).copied().unwrap_or(0.0).abs()))
                .fold((col, -1.0), |acc, x| if x.1 > acc.1 { x } else { acc });
            if best < 1e-12 {
                return Err(Stop::Singular);
            }
            if p != col {
                for c in 0..width {
                    m.swap(p * width + c, col * width + c);
                }
            }
            let pivot_row: Vec<f64> = {
                let row = m.chunks_exact(width).nth(col).unwrap_or(&[]);
                let d = row.get(col).copied().unwrap_or(1.0);
                row.iter().map(|v| v / d).collect()
            };
            if pivot_row.len() != width {
                return Err(Stop::Singular);
            }
            for (r, row) in m.chunks_exact_mut(width).enumerate() {
                if r == col {
                    row.copy_from_slice(&pivot_row);
                    continue;
                }
                let f = row.get(col).copied().unwrap_or(0.0);
                if f != 0.0 {
                    for (v, p) in row.iter_mut().zip(&pivot_row) {
                        *v -= f * p;
                    }
                }
            }
        }
        // B⁻¹ is the right half. Row i of B⁻¹ belongs to basis position i.
        for (dst, src) in self
            .inverse
            .chunks_exact_mut(rows.max(1))
            .zip(m.chunks_exact(width))
        {
            dst.copy_from_slice(src.get(rows..).unwrap_or(&[]));
        }
        for (x, row) in self
            .values
            .iter_mut()
            .zip(self.inverse.chunks_exact(rows.max(1)))
        {
            *x = row.iter().zip(&self.demand).map(|(a, d)| a * d).sum();
        }
        self.y = self.compute_duals();
        self.since_refactor = 0;
        Ok(())
    }
}

/// Bland's order on variables: columns first, by number, then surpluses.
fn key(v: &Var) -> (u8, usize) {
    match *v {
        Var::Column(j) => (0, j),
        Var::Surplus(k) => (1, k),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The optimum by microlp, from scratch.
    fn reference(demand: &[u32], singles: &[f64], columns: &[(f64, Vec<(usize, f64)>)]) -> f64 {
        use microlp::{ComparisonOp, OptimizationDirection, Problem};
        let mut p = Problem::new(OptimizationDirection::Minimize);
        let mut vars: Vec<(microlp::Variable, Vec<(usize, f64)>)> = Vec::new();
        for (k, &c) in singles.iter().enumerate() {
            vars.push((p.add_var(c, (0.0, f64::INFINITY)), vec![(k, 1.0)]));
        }
        for (c, e) in columns {
            vars.push((p.add_var(*c, (0.0, f64::INFINITY)), e.clone()));
        }
        for (k, &d) in demand.iter().enumerate() {
            let terms: Vec<_> = vars
                .iter()
                .filter_map(|(v, e)| e.iter().find(|x| x.0 == k).map(|x| (*v, x.1)))
                .collect();
            p.add_constraint(terms, ComparisonOp::Ge, f64::from(d));
        }
        match p.solve().unwrap() {
            microlp::SolveOutcome::Solution(s) => s.objective(),
            microlp::SolveOutcome::Interrupted(_) => panic!("interrupted"),
        }
    }

    #[test]
    fn solves_a_small_cutting_stock_lp() {
        // Rolls of width 10; orders of width 5 (4 of them) and 3 (5).
        let mut lp = CoverLp::new(&[4, 5], &[1.0, 1.0]);
        lp.add_column(1.0, &[(0, 2.0)]);
        lp.add_column(1.0, &[(1, 3.0)]);
        lp.add_column(1.0, &[(0, 1.0), (1, 1.0)]);
        lp.solve(100).unwrap();
        // x[2,0] = 2, x[0,3] = 5/3.
        assert!(
            (lp.objective() - 11.0 / 3.0).abs() < 1e-9,
            "{}",
            lp.objective()
        );
        let y = lp.duals();
        assert!(
            (y[0] - 0.5).abs() < 1e-9 && (y[1] - 1.0 / 3.0).abs() < 1e-9,
            "{y:?}"
        );
    }

    proptest! {
        /// Columns added a few at a time, each solve warm-started: the same
        /// optimum as a from-scratch solve, a primal solution that covers
        /// the demand at that cost, and duals that are feasible (no column
        /// worth more than its cost) and prove it (equal objective).
        #[test]
        fn warm_started_solves_match_a_fresh_one(
            rows in 1usize..8,
            seed_demand in proptest::collection::vec(0u32..40, 8),
            seed_singles in proptest::collection::vec(1u32..50, 8),
            batches in proptest::collection::vec(
                proptest::collection::vec(
                    (1u32..60, proptest::collection::vec((0usize..8, 1u32..6), 1..4)),
                    1..6,
                ),
                1..6,
            ),
        ) {
            let demand: Vec<u32> = seed_demand.into_iter().take(rows).collect();
            let singles: Vec<f64> = seed_singles.into_iter().take(rows).map(|c| f64::from(c) / 4.0).collect();
            let mut lp = CoverLp::new(&demand, &singles);
            let mut all: Vec<(f64, Vec<(usize, f64)>)> = Vec::new();
            for batch in batches {
                for (cost, entries) in batch {
                    let mut e: Vec<(usize, f64)> = entries
                        .into_iter()
                        .filter(|(k, _)| *k < rows)
                        .map(|(k, a)| (k, f64::from(a)))
                        .collect();
                    e.sort_by_key(|x| x.0);
                    e.dedup_by_key(|x| x.0);
                    if e.is_empty() {
                        continue;
                    }
                    lp.add_column(f64::from(cost) / 4.0, &e);
                    all.push((f64::from(cost) / 4.0, e));
                }
                lp.solve(10_000).unwrap();
                let want = reference(&demand, &singles, &all);
                prop_assert!((lp.objective() - want).abs() <= 1e-7 * want.max(1.0), "{} vs {}", lp.objective(), want);
            }
            let x = lp.primal();
            let mut covered = vec![0.0; rows];
            let mut cost = 0.0;
            for (j, xj) in x.iter().enumerate() {
                prop_assert!(*xj >= 0.0);
                let (c, e) = if j < rows { (singles[j], vec![(j, 1.0)]) } else { all[j - rows].clone() };
                cost += c * xj;
                for (k, a) in e {
                    covered[k] += a * xj;
                }
            }
            for k in 0..rows {
                prop_assert!(covered[k] >= f64::from(demand[k]) - 1e-7);
            }
            prop_assert!((cost - lp.objective()).abs() <= 1e-7 * cost.max(1.0));
            let y = lp.duals();
            let dual: f64 = y.iter().zip(&demand).map(|(v, d)| v * f64::from(*d)).sum();
            prop_assert!((dual - lp.objective()).abs() <= 1e-7 * dual.max(1.0));
            for (k, v) in y.iter().enumerate() {
                prop_assert!(*v >= -1e-9 && *v <= singles[k] + 1e-9);
            }
            for (c, e) in &all {
                let value: f64 = e.iter().map(|(k, a)| a * y[*k]).sum();
                prop_assert!(value <= c + 1e-7);
            }
        }
    }
}
