//! The placement problem as numbers: zones, their free capacity, services
//! with their replicas and zone constraints, and the traffic graph.
//!
//! [`Problem`] knows nothing of snapshots (see [`super::build`]), so the
//! solvers and their tests work on it directly.

use petgraph::graph::{NodeIndex, UnGraph};

use crate::resources::{Dimension, Resources};

/// One service to place (or that stays where it is).
#[derive(Clone, Debug, PartialEq)]
pub struct ServiceSpec {
    /// Replicas, the same before and after.
    pub replicas: u32,
    /// What each replica requests (the largest of its pods).
    pub per_replica: Resources,
    /// Replicas per zone today, indexed like [`Problem::zones`].
    pub current: Vec<u32>,
    /// Whether its replicas may move at all (see [`super::Fixed`] for why not).
    pub movable: bool,
    /// Zones its pods may run in (node affinity, node selector, taints).
    pub allowed: Vec<bool>,
    /// At most this many replicas in one zone (required pod anti-affinity
    /// on the zone: 1).
    pub max_per_zone: Option<u32>,
    /// `maxSkew` of a required (`DoNotSchedule`) topology spread on the
    /// zone: most and fewest replicas over the allowed zones differ by at
    /// most this.
    pub max_skew: Option<u32>,
}

impl ServiceSpec {
    /// Zones it must use at least: 2 with two replicas or more (one zone
    /// outage must not take it down), else its replica count.
    pub fn min_zones(&self) -> usize {
        if self.replicas >= 2 {
            2
        } else {
            self.replicas as usize
        }
    }

    /// Whether `counts` (replicas per zone) satisfies everything but
    /// capacity: the replica count, allowed zones, the per-zone maximum, the
    /// zone minimum and the skew.
    pub fn admits(&self, counts: &[u32]) -> bool {
        if !self.movable {
            return counts == self.current.as_slice();
        }
        if counts.len() != self.allowed.len()
            || counts.iter().map(|&c| u64::from(c)).sum::<u64>() != u64::from(self.replicas)
        {
            return false;
        }
        let mut used = 0usize;
        let (mut most, mut fewest) = (0u32, u32::MAX);
        for (&count, &allowed) in counts.iter().zip(&self.allowed) {
            if !allowed {
                if count > 0 {
                    return false;
                }
                continue;
            }
            if self.max_per_zone.is_some_and(|m| count > m) {
                return false;
            }
            used += usize::from(count > 0);
            most = most.max(count);
            fewest = fewest.min(count);
        }
        used >= self.min_zones()
            && self
                .max_skew
                .is_none_or(|skew| most.saturating_sub(fewest) <= skew)
    }
}

/// Zones, capacity, services and the traffic between them.
#[derive(Clone, Debug)]
pub struct Problem {
    /// Zone names; every per-zone vector is indexed like this.
    pub zones: Vec<String>,
    /// What the movable services may use per zone: allocatable of the
    /// schedulable nodes minus the requests of every pod that stays.
    pub capacity: Vec<Resources>,
    /// Services, indexed like the graph's node weights.
    pub services: Vec<ServiceSpec>,
    /// Traffic: node weight = index into `services`, edge weight = bytes/s
    /// between the two in both directions together. No self loops (see
    /// `self_bytes_per_second`); at most one edge per pair.
    pub graph: UnGraph<usize, f64>,
    /// Traffic of each service with itself, bytes/s.
    pub self_bytes_per_second: Vec<f64>,
}

impl Problem {
    /// A problem over these zones with no service yet.
    pub fn new(zones: Vec<String>, capacity: Vec<Resources>) -> Self {
        Problem {
            zones,
            capacity,
            services: Vec::new(),
            graph: UnGraph::default(),
            self_bytes_per_second: Vec::new(),
        }
    }

    /// Add a service; returns its index.
    pub fn add_service(&mut self, spec: ServiceSpec) -> usize {
        let index = self.services.len();
        self.services.push(spec);
        self.self_bytes_per_second.push(0.0);
        self.graph.add_node(index);
        index
    }

    /// Add traffic between two services (either order; summed with what is
    /// there). Non-finite or negative rates are ignored.
    pub fn add_traffic(&mut self, a: usize, b: usize, bytes_per_second: f64) {
        if !(bytes_per_second.is_finite() && bytes_per_second > 0.0)
            || a >= self.services.len()
            || b >= self.services.len()
        {
            return;
        }
        if a == b {
            if let Some(w) = self.self_bytes_per_second.get_mut(a) {
                *w += bytes_per_second;
            }
            return;
        }
        let (na, nb) = (NodeIndex::new(a), NodeIndex::new(b));
        match self.graph.find_edge(na, nb) {
            Some(e) => {
                if let Some(w) = self.graph.edge_weight_mut(e) {
                    *w += bytes_per_second;
                }
            }
            None => {
                self.graph.add_edge(na, nb, bytes_per_second);
            }
        }
    }

    /// Today's placement.
    pub fn current(&self) -> Placement {
        Placement {
            zones: self.zones.len(),
            counts: self
                .services
                .iter()
                .flat_map(|s| s.current.iter().copied())
                .collect(),
        }
    }

    /// Bytes/s crossing zones under `placement` (each cross-zone byte once;
    /// the bill charges it on both sides).
    pub fn cross_zone_bytes_per_second(&self, placement: &Placement) -> f64 {
        let mut total = 0.0;
        for edge in self.graph.raw_edges() {
            let (a, b) = (edge.source().index(), edge.target().index());
            total += edge.weight * (1.0 - self.same_zone_share(placement, a, b));
        }
        for (s, &w) in self.self_bytes_per_second.iter().enumerate() {
            if w > 0.0 {
                total += w * (1.0 - self.same_zone_share(placement, s, s));
            }
        }
        total.max(0.0)
    }

    /// The share of the traffic between `a` and `b` that stays in a zone:
    /// Σ over zones of (share of a's replicas there) × (share of b's).
    pub fn same_zone_share(&self, placement: &Placement, a: usize, b: usize) -> f64 {
        let (ca, cb) = (placement.of(a), placement.of(b));
        let (na, nb) = (total(ca), total(cb));
        if na == 0 || nb == 0 {
            return 0.0;
        }
        let dot: u64 = ca
            .iter()
            .zip(cb)
            .map(|(&x, &y)| u64::from(x) * u64::from(y))
            .sum();
        dot as f64 / (na as f64 * nb as f64)
    }

    /// What the movable services request per zone under `placement`.
    pub fn load(&self, placement: &Placement) -> Vec<Resources> {
        let mut load = vec![Resources::ZERO; self.zones.len()];
        for (s, spec) in self.services.iter().enumerate().filter(|(_, s)| s.movable) {
            for (z, &count) in placement.of(s).iter().enumerate() {
                if let Some(l) = load.get_mut(z) {
                    *l = l.saturating_add(saturating_mul(spec.per_replica, count));
                }
            }
        }
        load
    }

    /// Why `placement` breaks a constraint, if it does: a service's own
    /// constraints ([`ServiceSpec::admits`]) or a zone's capacity.
    pub fn violation(&self, placement: &Placement) -> Option<String> {
        if placement.counts.len() != self.services.len() * self.zones.len() {
            return Some("placement of the wrong size".into());
        }
        for (s, spec) in self.services.iter().enumerate() {
            if !spec.admits(placement.of(s)) {
                return Some(format!(
                    "service {s}: {:?} breaks its zone constraints",
                    placement.of(s)
                ));
            }
        }
        for (z, (load, capacity)) in self.load(placement).iter().zip(&self.capacity).enumerate() {
            if let Some(d) = load.first_exceeding(capacity) {
                return Some(format!("zone {z}: {d} over capacity"));
            }
        }
        None
    }
}

/// Replicas per zone of every service: row `s` is service `s`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Placement {
    /// Zones per row.
    pub zones: usize,
    /// Row-major counts.
    pub counts: Vec<u32>,
}

impl Placement {
    /// Replicas per zone of service `s` (empty if out of range).
    pub fn of(&self, s: usize) -> &[u32] {
        let start = s.saturating_mul(self.zones);
        self.counts
            .get(start..start.saturating_add(self.zones))
            .unwrap_or(&[])
    }

    /// Set the row of service `s`.
    pub fn set(&mut self, s: usize, counts: &[u32]) {
        let start = s.saturating_mul(self.zones);
        if let Some(row) = self.counts.get_mut(start..start.saturating_add(self.zones)) {
            row.copy_from_slice(counts);
        }
    }
}

pub(super) fn total(counts: &[u32]) -> u64 {
    counts.iter().map(|&c| u64::from(c)).sum()
}

pub(super) fn saturating_mul(r: Resources, count: u32) -> Resources {
    let mut out = Resources::ZERO;
    for d in Dimension::ALL {
        *out.get_mut(d) = r.get(d).saturating_mul(u64::from(count));
    }
    out
}
