//! The tenant-label policy and per-tenant label rules, applied to a decoded batch, and
//! the split of the batch into per-tenant groups.

use rwgate_ring::series_hash;
use rwgate_wire::{RefusalReason, Rejections, SeriesRef, WriteBatch};

use super::{Identity, LabelPolicy, TenancyState, TenantSpec, escape, validate_tenant};
use crate::relabel::cache::{self, CacheStats, Script, Verdict};
use crate::relabel::{Labels, Outcome, RuleSet};

/// Why the tenancy rules refused a series (the request still writes the others).
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::EnumIter)]
pub enum RuleReason {
    /// Relabeling gave a series a label set decoding would refuse (the wire reason).
    #[strum(disabled)]
    Relabeled(rwgate_wire::Reason),
    /// A series lacks a label its tenant's rules require.
    MissingRequiredLabel,
    /// A series carries a label value its tenant's rules do not allow.
    LabelValueNotAllowed,
    /// A series' tenant label (split mode) is not a valid or known tenant.
    InvalidTenantLabel,
    /// Relabeling dropped the series (counted, not refused: the request still succeeds).
    RelabelDropped,
}

impl RuleReason {
    /// Every reason (derived: a new variant is listed at once).
    pub fn all() -> impl Iterator<Item = RuleReason> {
        <RuleReason as strum::IntoEnumIterator>::iter()
    }
}

impl RefusalReason for RuleReason {
    fn id(self) -> &'static str {
        match self {
            RuleReason::Relabeled(r) => r.id(),
            RuleReason::MissingRequiredLabel => "missing_required_label",
            RuleReason::LabelValueNotAllowed => "label_value_not_allowed",
            RuleReason::InvalidTenantLabel => "invalid_tenant_label",
            RuleReason::RelabelDropped => "relabel_dropped",
        }
    }
}

/// The accepted series of a batch grouped by tenant (indices into the batch).
#[derive(Debug, Default, Clone)]
pub struct Routed {
    /// `(tenant, series)` in first-seen order.
    pub groups: Vec<(String, Vec<u32>)>,
    /// Series whose tenant label was overwritten.
    pub overwritten: u64,
    /// Series the rules refused (removed from the batch).
    pub refused: Rejections<RuleReason>,
    /// Series a relabel rule dropped, or left without labels or `__name__` (removed
    /// from the batch; not an error).
    pub relabel_dropped: Rejections<Dropped>,
    /// How the relabel cache answered (zero without rules).
    pub relabel_cache: CacheStats,
}

/// Why relabeling removed a series without refusing the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dropped;

impl RefusalReason for Dropped {
    fn id(self) -> &'static str {
        "relabel_dropped"
    }
}

/// A refused series: reason, optional detail, and its tenant for the discard metric.
pub type Refusal<'a> = (RuleReason, Option<String>, &'a str);

/// Applies the tenant-label policy and each tenant's rules. Refused series are removed
/// from the batch (recorded in [`Routed::refused`], and reported to `on_refused`); a
/// label naming another tenant under `reject` refuses the whole request.
pub fn route(
    state: &TenancyState,
    id: &Identity,
    batch: &mut WriteBatch,
    mut on_refused: impl FnMut(Refusal<'_>, SeriesRef<'_>),
) -> Result<Routed, super::TenancyError> {
    let cfg = state.settings();
    let label = cfg.tenant_label.as_bytes();
    let splitting = cfg.tenant_label_policy == LabelPolicy::Split && id.can_split;
    if !splitting && cfg.tenant_label_policy != LabelPolicy::Overwrite {
        // reject, and split for requests that may not split: the label must agree.
        require_agreement(&cfg.tenant_label, id, batch)?;
    }
    let mut tenants = Tenants::of_request(id, batch.len());
    if splitting {
        tenants.assign_from_labels(state, label, batch);
    }
    let mut routed = Routed::default();
    match cfg.tenant_label_policy {
        // Thanos' split mode: the label is gone before hashing, for every series.
        LabelPolicy::Split => {
            for i in 0..batch.len() {
                batch.set_label(i, label, None);
            }
        }
        LabelPolicy::Overwrite => {
            let own = id.tenant.as_bytes();
            for i in 0..batch.len() {
                if batch.series(i).label(label).is_some_and(|v| v != own) {
                    batch.set_label(i, label, Some(own));
                    routed.overwritten += 1;
                }
            }
        }
        LabelPolicy::Reject => {}
    }

    let (dropped, cache_stats) = relabel(state, batch, &mut tenants);
    routed.relabel_cache = cache_stats;
    // Only when relabeling dropped something: the hot path without rules is untouched.
    if dropped.iter().any(|&d| d) {
        let (kept_after_relabel, relabel_dropped) = batch.retain(|i, s| {
            if !dropped[i] {
                return Ok(());
            }
            let tenant = tenants.names[tenants.of[i] as usize].as_str();
            on_refused((RuleReason::RelabelDropped, None, tenant), s);
            Err((Dropped, None))
        });
        routed.relabel_dropped = relabel_dropped;
        tenants.keep_only(&kept_after_relabel);
    }

    // Looked up once per tenant, not once per series.
    let specs: Vec<&TenantSpec> = tenants.names.iter().map(|n| state.spec(n)).collect();
    let checked = !tenants.refused.is_empty() || specs.iter().any(|s| s.has_label_rules());
    // Nothing refused and no label rules (nearly always): every series is kept, and
    // none is looked at.
    let kept = if checked {
        let (kept, refused) = batch.retain(|i, s| {
            let t = tenants.of[i] as usize;
            let tenant = tenants.names[t].as_str();
            let problem = match tenants.refused.get_mut(i).and_then(Option::take) {
                Some((reason, detail)) => Some((reason, Some(detail))),
                None if specs[t].has_label_rules() => check_rules(specs[t], tenant, &s),
                None => None,
            };
            match problem {
                None => Ok(()),
                Some((reason, detail)) => {
                    on_refused((reason, detail.clone(), tenant), s);
                    Err((reason, detail))
                }
            }
        });
        routed.refused = refused;
        kept
    } else {
        (0..batch.len() as u32).collect()
    };
    // One tenant (always outside split mode): its group is every series kept, by
    // their new indices, written over the old ones.
    if let [tenant] = tenants.names.as_slice() {
        if !kept.is_empty() {
            let mut group = kept;
            for (new_index, g) in group.iter_mut().enumerate() {
                *g = new_index as u32;
            }
            routed.groups = vec![(tenant.clone(), group)];
        }
        return Ok(routed);
    }
    // Groups in the order their tenants first appear among the series kept.
    let mut by_tenant: Vec<Vec<u32>> = vec![Vec::new(); tenants.names.len()];
    let mut order = Vec::with_capacity(tenants.names.len());
    for (new_index, &old_index) in kept.iter().enumerate() {
        let t = tenants.of[old_index as usize] as usize;
        if by_tenant[t].is_empty() {
            // A request's series are nearly always all of one tenant: room for all of
            // them in the first group only (not per tenant: quadratic in split mode).
            if order.is_empty() {
                by_tenant[t].reserve(kept.len());
            }
            order.push(t);
        }
        by_tenant[t].push(new_index as u32);
    }
    routed.groups = order
        .into_iter()
        .map(|t| (tenants.names[t].clone(), std::mem::take(&mut by_tenant[t])))
        .collect();
    Ok(routed)
}

/// Refuses the request when a series' tenant label names another tenant.
fn require_agreement(
    label_name: &str,
    id: &Identity,
    batch: &WriteBatch,
) -> Result<(), super::TenancyError> {
    let (label, own) = (label_name.as_bytes(), id.tenant.as_bytes());
    let Some(s) = batch
        .iter()
        .find(|s| s.label(label).is_some_and(|v| v != own))
    else {
        return Ok(());
    };
    let other = String::from_utf8_lossy(s.label(label).unwrap_or_default());
    Err(super::TenancyError::LabelMismatch(format!(
        "series {} has {label_name}={} but the request is for tenant {}; nothing was written",
        s.describe(),
        escape(&other),
        id.tenant
    )))
}

/// Applies each series' tenant's relabel rules: changed series are re-encoded (and
/// placed by their new labels), an invalid result is marked refused with the reason
/// decoding would give. Returns, per series, whether relabeling drops it (a rule
/// dropped it, or it was left without labels or `__name__`), empty without rules, and
/// how the thread's relabel cache answered.
fn relabel(
    state: &TenancyState,
    batch: &mut WriteBatch,
    tenants: &mut Tenants,
) -> (Vec<bool>, CacheStats) {
    let mut stats = CacheStats::default();
    if state.relabel().is_empty() {
        return (Vec::new(), stats);
    }
    let mut dropped = vec![false; batch.len()];
    // Rules may refuse series: every series gets its refusal slot.
    tenants.refusals();
    let rules: Vec<&RuleSet> = tenants
        .names
        .iter()
        .map(|n| state.relabel().for_tenant(n))
        .collect();
    let limits: Vec<rwgate_wire::Limits> =
        tenants.names.iter().map(|n| state.wire_limits(n)).collect();
    let scopes: Vec<cache::Scope> = tenants
        .names
        .iter()
        .map(|n| cache::Scope::new(state.id(), n))
        .collect();
    // Series are taken in chunks: the cache entries of a chunk are looked up first, in
    // a tight loop whose memory reads overlap, then used.
    const CHUNK: usize = 32;
    let mut spare = Vec::new();
    let mut slots: Vec<Slot> = Vec::with_capacity(CHUNK);
    let budget = state.relabel_cache_bytes();
    cache::with(budget, |cache| {
        for chunk in (0..batch.len()).step_by(CHUNK) {
            let end = (chunk + CHUNK).min(batch.len());
            slots.clear();
            let mut found = 0u32;
            for i in chunk..end {
                let t = tenants.of[i] as usize;
                let slot = if rules[t].is_empty() || tenants.refused[i].is_some() {
                    Slot::Skip
                } else {
                    match batch.series(i).label_fields().filter(|_| budget > 0) {
                        Some(fields) => Slot::Cached(scopes[t].key(fields)),
                        None => Slot::Uncached,
                    }
                };
                if let Slot::Cached(key) = &slot {
                    found += u32::from(cache.probe(key));
                }
                slots.push(slot);
            }
            // The probes only warm the CPU cache: keep the optimiser from dropping them.
            std::hint::black_box(found);
            for i in chunk..end {
                let t = tenants.of[i] as usize;
                let (refused, drop) = (&mut tenants.refused[i], &mut dropped[i]);
                let series = batch.series(i);
                let key = match slots[i - chunk] {
                    Slot::Skip => continue,
                    Slot::Uncached => {
                        let d = decide(rules[t], &limits[t], series);
                        carry_out(d, i, batch, refused, drop);
                        continue;
                    }
                    Slot::Cached(key) => key,
                };
                let tenant = tenants.names[t].as_bytes();
                let applied = if let Some(v) = cache.get(&key) {
                    stats.hits += 1;
                    apply(v, i, batch, refused, drop)
                } else {
                    stats.misses += 1;
                    let mut v = remembered_verdict(decide(rules[t], &limits[t], series), series);
                    let applied = apply(&v, i, batch, refused, drop);
                    if let Verdict::Rewritten { hash, .. } = &mut v {
                        *hash = series_hash(tenant, batch.series(i).labels(), &mut spare);
                        batch.set_hash_memo(i, *hash);
                    }
                    cache.insert(&key, v);
                    applied
                };
                if !applied {
                    // Only a hash collision gets here: the remembered rewrite does not
                    // fit this series. Run the rules for it instead.
                    let d = decide(rules[t], &limits[t], batch.series(i));
                    carry_out(d, i, batch, refused, drop);
                }
            }
        }
    });
    (dropped, stats)
}

/// What relabeling does with one series of a chunk.
enum Slot {
    /// Its tenant has no rules, or its tenant label already refused it.
    Skip,
    /// The rules run and nothing is remembered: no cache memory, or its labels are not
    /// together (only a client writes that).
    Uncached,
    /// Looked up (and remembered) under this key.
    Cached(cache::Key),
}

/// What the rules made of one series.
enum Decision {
    Unchanged,
    Dropped,
    Invalid(rwgate_wire::Reason),
    /// The new labels.
    Rewritten(Labels),
}

/// A decision as the cache keeps it.
fn remembered_verdict(d: Decision, series: SeriesRef<'_>) -> Verdict {
    match d {
        Decision::Unchanged => Verdict::Unchanged,
        Decision::Dropped => Verdict::Dropped,
        Decision::Invalid(r) => Verdict::Invalid(r),
        Decision::Rewritten(labels) => {
            let ranges = series.label_field_ranges().unwrap_or_default();
            let script = Script::of(series.labels(), &ranges, &labels.as_strs());
            // The hash is filled in once the labels are written.
            Verdict::Rewritten { script, hash: 0 }
        }
    }
}

/// Carries out a decision on series `i` (without the cache).
fn carry_out(
    d: Decision,
    i: usize,
    batch: &mut WriteBatch,
    refused: &mut Option<(RuleReason, String)>,
    drop: &mut bool,
) {
    match d {
        Decision::Unchanged => {}
        Decision::Dropped => *drop = true,
        Decision::Invalid(reason) => *refused = Some(invalid(reason)),
        Decision::Rewritten(labels) => batch.replace_labels(i, &labels.as_strs()),
    }
}

/// Carries out a remembered verdict on series `i`; false (changing nothing) when a
/// rewrite does not fit the series.
fn apply(
    verdict: &Verdict,
    i: usize,
    batch: &mut WriteBatch,
    refused: &mut Option<(RuleReason, String)>,
    drop: &mut bool,
) -> bool {
    match verdict {
        Verdict::Unchanged => {}
        Verdict::Dropped => *drop = true,
        Verdict::Invalid(reason) => *refused = Some(invalid(*reason)),
        Verdict::Rewritten { script, hash } => {
            if !batch.rewrite_label_fields(i, script.pieces()) {
                return false;
            }
            if *hash != 0 {
                batch.set_hash_memo(i, *hash);
            }
        }
    }
    true
}

fn invalid(reason: rwgate_wire::Reason) -> (RuleReason, String) {
    (
        RuleReason::Relabeled(reason),
        "after relabeling".to_string(),
    )
}

/// Runs `rules` on one series' labels.
fn decide(rules: &RuleSet, limits: &rwgate_wire::Limits, series: SeriesRef<'_>) -> Decision {
    // Decoding validated the labels as UTF-8; lossy only as a fallback.
    let text = |b: &[u8]| match std::str::from_utf8(b) {
        Ok(s) => s.to_owned(),
        Err(_) => String::from_utf8_lossy(b).into_owned(),
    };
    let mut labels = Labels::new(series.labels().map(|(n, v)| (text(n), text(v))));
    if rules.apply(&mut labels) != Outcome::Keep
        || labels.is_empty()
        || labels.get("__name__").is_empty()
    {
        return Decision::Dropped;
    }
    if !labels.changed() {
        return Decision::Unchanged;
    }
    match rwgate_wire::validate_label_set(&labels.as_strs(), limits) {
        Err(reason) => Decision::Invalid(reason),
        Ok(()) => Decision::Rewritten(labels),
    }
}

/// The tenant of every series of a batch, and the series refused for their tenant
/// label.
struct Tenants {
    /// Distinct tenants, the request's first.
    names: Vec<String>,
    /// Per series, an index into `names`.
    of: Vec<u32>,
    /// Per series, why its tenant label (or relabeling) refuses it; empty while no
    /// series is refused, which is nearly always.
    refused: Vec<Option<(RuleReason, String)>>,
}

impl Tenants {
    /// Keeps the entries of the series kept (`kept`: original indices, in order).
    fn keep_only(&mut self, kept: &[u32]) {
        self.of = kept.iter().map(|&k| self.of[k as usize]).collect();
        if !self.refused.is_empty() {
            self.refused = kept
                .iter()
                .map(|&k| self.refused[k as usize].take())
                .collect();
        }
    }

    /// Every series belongs to the request's tenant.
    fn of_request(id: &Identity, series: usize) -> Tenants {
        Tenants {
            names: vec![id.tenant.clone()],
            of: vec![0; series],
            refused: Vec::new(),
        }
    }

    /// The refusal slot of every series, made when first needed.
    fn refusals(&mut self) -> &mut [Option<(RuleReason, String)>] {
        if self.refused.is_empty() {
            self.refused = vec![None; self.of.len()];
        }
        &mut self.refused
    }

    /// Split mode: a series with a valid (and, unless unknown tenants are allowed,
    /// known) tenant label belongs to that tenant; an invalid one is refused.
    fn assign_from_labels(&mut self, state: &TenancyState, label: &[u8], batch: &WriteBatch) {
        let allow_unknown = state.settings().allow_unknown_tenants;
        for i in 0..batch.len() {
            let Some(v) = batch.series(i).label(label) else {
                continue;
            };
            let Some(t) = std::str::from_utf8(v)
                .ok()
                .filter(|t| validate_tenant(t).is_ok())
            else {
                let shown = escape(&String::from_utf8_lossy(v));
                self.refusals()[i] = Some((
                    RuleReason::InvalidTenantLabel,
                    format!("{shown} is not a valid tenant"),
                ));
                continue;
            };
            if !allow_unknown && !state.is_known(t) {
                self.refusals()[i] = Some((
                    RuleReason::InvalidTenantLabel,
                    format!("unknown tenant {t}"),
                ));
                continue;
            }
            self.of[i] = match self.names.iter().position(|n| n == t) {
                Some(k) => k as u32,
                None => {
                    self.names.push(t.to_string());
                    (self.names.len() - 1) as u32
                }
            };
        }
    }
}

fn check_rules(
    spec: &TenantSpec,
    tenant: &str,
    s: &SeriesRef<'_>,
) -> Option<(RuleReason, Option<String>)> {
    for required in &spec.required_labels {
        if s.label(required.as_bytes()).is_none() {
            return Some((
                RuleReason::MissingRequiredLabel,
                Some(format!("tenant {tenant} requires label {required}")),
            ));
        }
    }
    for (name, allowed) in &spec.allowed_label_values {
        if let Some(v) = s.label(name.as_bytes())
            && !allowed.iter().any(|a| a.as_bytes() == v)
        {
            return Some((
                RuleReason::LabelValueNotAllowed,
                Some(format!(
                    "{name}={} is not allowed for tenant {tenant}",
                    escape(&String::from_utf8_lossy(v))
                )),
            ));
        }
    }
    None
}
