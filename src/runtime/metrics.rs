//! The controller's metrics, served in Prometheus' text format.

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

/// One label: `(name, value)`, both fixed strings.
type Label = [(&'static str, &'static str); 1];

/// What the controller counts.
pub struct Metrics {
    registry: Registry,
    /// Optimization cycles, by outcome (`acted`, `nothing_to_do`, `failed`).
    pub cycles: Family<Label, Counter>,
    /// Plans the cycles' engines made, by engine and outcome (`planned`,
    /// `nothing_to_do`, `cannot_tell`).
    pub plans: Family<[(&'static str, &'static str); 2], Counter>,
    /// Plan steps, by outcome (`done`, `would_do`, `skipped`, `failed`,
    /// `done_earlier`).
    pub steps: Family<Label, Counter>,
    /// Instance events taken from a queue or the API, by kind.
    pub events: Family<Label, Counter>,
    /// Failed calls, by system (`kubernetes`, `aws`, `store`).
    pub errors: Family<Label, Counter>,
    /// What completed runs that acted changed in the hourly bill, summed
    /// (a saving is positive).
    pub saved_usd_per_hour: Gauge<f64, AtomicU64>,
    /// Clusters this process holds.
    pub clusters_held: Gauge,
    /// From an event's message sent to SQS to its receipt, seconds (the
    /// queue lag).
    pub event_lag_seconds: Histogram,
    /// From an interruption warning sent to SQS to its node cordoned,
    /// seconds.
    pub warning_to_cordon_seconds: Histogram,
    /// One optimization cycle, observe to last step, seconds.
    pub cycle_seconds: Histogram,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    /// Every metric at zero, registered under `cloudoptim_`.
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("cloudoptim");
        let cycles = Family::<Label, Counter>::default();
        let steps = Family::<Label, Counter>::default();
        let plans = Family::<[(&'static str, &'static str); 2], Counter>::default();
        let events = Family::<Label, Counter>::default();
        let errors = Family::<Label, Counter>::default();
        let saved = Gauge::<f64, AtomicU64>::default();
        let held = Gauge::default();
        let lag = Histogram::new(exponential_buckets(0.01, 2.0, 14));
        let cycle = Histogram::new(exponential_buckets(0.01, 2.0, 16));
        let cordon = Histogram::new(exponential_buckets(0.01, 2.0, 14));
        registry.register("cycles", "Optimization cycles by outcome", cycles.clone());
        registry.register("steps", "Plan steps by outcome", steps.clone());
        registry.register(
            "plans",
            "Plans of the cycles' engines, by engine and outcome",
            plans.clone(),
        );
        registry.register("events", "Instance events taken, by kind", events.clone());
        registry.register("errors", "Failed calls by system", errors.clone());
        registry.register(
            "saved_usd_per_hour",
            "Change to the hourly bill made by completed runs that acted (saving positive)",
            saved.clone(),
        );
        registry.register("clusters_held", "Clusters this process holds", held.clone());
        registry.register(
            "event_lag_seconds",
            "From an event's message sent to SQS to its receipt",
            lag.clone(),
        );
        registry.register(
            "warning_to_cordon_seconds",
            "From an interruption warning sent to SQS to its node cordoned",
            cordon.clone(),
        );
        registry.register(
            "cycle_seconds",
            "One optimization cycle, observe to last step",
            cycle.clone(),
        );
        Metrics {
            registry,
            cycles,
            steps,
            plans,
            events,
            errors,
            saved_usd_per_hour: saved,
            clusters_held: held,
            event_lag_seconds: lag,
            warning_to_cordon_seconds: cordon,
            cycle_seconds: cycle,
        }
    }

    /// Count one step with this outcome.
    pub fn step(&self, outcome: &'static str) {
        self.steps.get_or_create(&[("outcome", outcome)]).inc();
    }

    /// Count one plan of `engine` with this outcome.
    pub fn plan(&self, engine: super::Engine, outcome: &'static str) {
        self.plans
            .get_or_create(&[("engine", engine.name()), ("outcome", outcome)])
            .inc();
    }

    /// How many plans of `engine` with this outcome were counted.
    pub fn plans_with(&self, engine: super::Engine, outcome: &'static str) -> u64 {
        self.plans
            .get_or_create(&[("engine", engine.name()), ("outcome", outcome)])
            .get()
    }

    /// Count one failed call to `system`.
    pub fn error(&self, system: &'static str) {
        self.errors.get_or_create(&[("system", system)]).inc();
    }

    /// How many steps with this outcome were counted.
    pub fn steps_with(&self, outcome: &'static str) -> u64 {
        self.steps.get_or_create(&[("outcome", outcome)]).get()
    }

    /// The text exposition format, as `/metrics` serves it.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}
