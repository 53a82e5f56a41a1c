//! A loaded set of hashrings: tenant → hashring → replica endpoints.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, RwLock};

use crate::config::{self, Algorithm, ConfigError, HashringSpec, MatcherType};
use crate::placement::Placement;
use crate::shuffle::{Shard, ShardError, Shuffle};
use crate::url;

/// What building a ring needs besides the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildOptions {
    /// Replicas per series.
    pub replication_factor: usize,
    /// Algorithm for hashrings that do not name one.
    pub default_algorithm: Algorithm,
    /// Ketama sections per endpoint (Thanos: 1000).
    pub sections_per_node: usize,
    /// Forward URL template for [`url::Protocol::Http`], see [`crate::url`].
    pub url_template: String,
    /// How bare addresses are forwarded to.
    pub protocol: url::Protocol,
}

impl Default for BuildOptions {
    fn default() -> Self {
        BuildOptions {
            replication_factor: 1,
            default_algorithm: Algorithm::Hashmod,
            sections_per_node: 1000,
            url_template: url::DEFAULT_TEMPLATE.to_string(),
            protocol: url::Protocol::default(),
        }
    }
}

/// Something legal in a hashrings file (a router accepts it) but almost certainly a
/// mistake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// What is wrong.
    pub problem: String,
    /// What to do about it.
    pub fix: String,
}

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.problem, self.fix)
    }
}

/// A receiver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The address as written in the file; what is hashed.
    pub address: String,
    /// Availability zone, empty when not set.
    pub az: String,
    /// Where and how rwgate sends this endpoint its series.
    pub target: url::Target,
}

enum Matcher {
    Everyone,
    Exact(HashSet<String>),
    Glob(Vec<glob::Pattern>),
}

impl Matcher {
    fn matches(&self, tenant: &str) -> bool {
        match self {
            Matcher::Everyone => true,
            Matcher::Exact(set) => set.contains(tenant),
            Matcher::Glob(patterns) => patterns.iter().any(|p| p.matches(tenant)),
        }
    }
}

/// One built hashring.
pub struct Hashring {
    name: String,
    algorithm: Algorithm,
    tenants: Vec<String>,
    matcher: Matcher,
    endpoints: Vec<Endpoint>,
    placement: Placement,
    shuffle: Option<Shuffle>,
    replication_factor: usize,
    external_labels: BTreeMap<String, String>,
}

/// Where one tenant's series go on a hashring: the whole ring, or the tenant's shuffle
/// shard of it.
#[derive(Debug)]
pub enum TenantPlacement<'a> {
    /// The hashring's own placement.
    Ring(&'a Hashring),
    /// The tenant's shard of a shuffle-sharded hashring.
    Shard(Arc<Shard>),
}

impl TenantPlacement<'_> {
    /// Index into [`Hashring::endpoints`] of replica `n` (0-based, below the
    /// replication factor) of a series with hash `hash`. Allocation-free.
    pub fn replica(&self, hash: u64, n: usize) -> usize {
        match self {
            TenantPlacement::Ring(ring) => ring.replica(hash, n),
            TenantPlacement::Shard(shard) => shard.replica(hash, n),
        }
    }

    /// The endpoints of the tenant's shard (indexes into [`Hashring::endpoints`]), when
    /// the hashring is shuffle-sharded.
    pub fn shard(&self) -> Option<&[u32]> {
        match self {
            TenantPlacement::Ring(_) => None,
            TenantPlacement::Shard(shard) => Some(shard.endpoints()),
        }
    }
}

impl std::fmt::Debug for Hashring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hashring")
            .field("name", &self.name)
            .field("algorithm", &self.algorithm)
            .field("tenants", &self.tenants)
            .field("endpoints", &self.endpoints)
            .finish_non_exhaustive()
    }
}

impl Hashring {
    /// Name (or `#index` when the file gives none).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Placement algorithm.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// Tenant patterns as written; empty means every tenant.
    pub fn tenants(&self) -> &[String] {
        &self.tenants
    }

    /// Endpoints in file order.
    pub fn endpoints(&self) -> &[Endpoint] {
        &self.endpoints
    }

    /// External labels as written.
    pub fn external_labels(&self) -> &BTreeMap<String, String> {
        &self.external_labels
    }

    /// Where `tenant`'s series go: the whole ring, or its shuffle shard (built on first
    /// use and cached). Fails, as a router's write does, when the tenant's shard cannot
    /// be built (a zone smaller than the shard needs).
    pub fn placement(&self, tenant: &str) -> Result<TenantPlacement<'_>, ShardError> {
        match &self.shuffle {
            None => Ok(TenantPlacement::Ring(self)),
            Some(shuffle) => shuffle
                .shard(tenant, |i| {
                    let e = &self.endpoints[i];
                    (e.address.as_str(), e.az.as_str())
                })
                .map(TenantPlacement::Shard),
        }
    }

    /// Whether the hashring has shuffle sharding on.
    pub fn is_shuffle_sharded(&self) -> bool {
        self.shuffle.is_some()
    }

    /// The shard size of `tenant` on a shuffle-sharded hashring.
    pub fn shard_size(&self, tenant: &str) -> Option<usize> {
        self.shuffle.as_ref().map(|s| s.shard_size(tenant))
    }

    /// Index into [`Hashring::endpoints`] of replica `n` (0-based) of a series with
    /// hash `hash` on the whole ring: the placement of every tenant unless the ring is
    /// shuffle-sharded (see [`Hashring::placement`]). Allocation-free.
    ///
    /// # Panics
    /// When `n >= replication_factor` (a caller bug: the gateway loops `n < RF`).
    pub fn replica(&self, hash: u64, n: usize) -> usize {
        assert!(
            n < self.replication_factor,
            "replica {n} of RF {}",
            self.replication_factor
        );
        self.placement.get(hash, n) as usize
    }

    /// The replication factor this ring was built for.
    pub fn replication_factor(&self) -> usize {
        self.replication_factor
    }
}

/// Most tenant → hashring answers remembered; past it lookups are computed each time.
const TENANT_CACHE_MAX: usize = 10_000;

/// All hashrings of one config load.
pub struct Hashrings {
    rings: Vec<Hashring>,
    cache: RwLock<HashMap<String, Option<usize>>>,
    config_hash: u64,
    warnings: Vec<Warning>,
}

impl std::fmt::Debug for Hashrings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hashrings")
            .field("rings", &self.rings)
            .field("config_hash", &self.config_hash)
            .finish_non_exhaustive()
    }
}

impl Hashrings {
    /// Parses and builds a hashrings file. Every problem is collected into one error.
    pub fn from_json(json: &[u8], opts: &BuildOptions) -> Result<Hashrings, ConfigError> {
        let specs = config::parse(json)?;
        let mut rings = Self::build(&specs, opts)?;
        rings.config_hash = crate::hash::xxhash64(json);
        Ok(rings)
    }

    /// Builds from parsed specs.
    pub fn build(specs: &[HashringSpec], opts: &BuildOptions) -> Result<Hashrings, ConfigError> {
        let mut problems = Vec::new();
        if specs.is_empty() {
            problems.push("the hashrings file holds no hashring".to_string());
        }
        if opts.replication_factor == 0 {
            problems.push("replication factor must be at least 1".to_string());
        }
        if opts.sections_per_node == 0 {
            problems.push("ketama sections per node must be at least 1".to_string());
        }
        if let Err(e) = url::validate_template(&opts.url_template) {
            problems.push(e);
        }
        let mut rings = Vec::with_capacity(specs.len());
        let mut warnings = Vec::new();
        for (i, spec) in specs.iter().enumerate() {
            match build_one(i, spec, opts) {
                Ok(ring) => {
                    shard_warnings(&ring, &mut warnings);
                    rings.push(ring);
                }
                Err(mut p) => problems.append(&mut p),
            }
        }
        if let Some(pos) = specs.iter().position(|s| s.tenants.is_empty())
            && pos + 1 < specs.len()
        {
            warnings.push(Warning {
                problem: format!(
                    "hashring {} has no tenants and so matches every tenant: the hashrings after it are never used",
                    specs[pos].display_name(pos)
                ),
                fix: "move the hashring without tenants to the end of the file".into(),
            });
        }
        if !problems.is_empty() {
            return Err(ConfigError { problems });
        }
        Ok(Hashrings {
            rings,
            cache: RwLock::new(HashMap::new()),
            config_hash: 0,
            warnings,
        })
    }

    /// The hashrings in file order.
    pub fn hashrings(&self) -> &[Hashring] {
        &self.rings
    }

    /// Things that are legal (Thanos accepts them) but almost certainly mistakes.
    pub fn warnings(&self) -> &[Warning] {
        &self.warnings
    }

    /// XXH64 of the file the rings were built from.
    pub fn config_hash(&self) -> u64 {
        self.config_hash
    }

    /// The hashring serving `tenant`: the first in file order whose tenants match, or a
    /// hashring without tenants. `None` when nothing matches.
    pub fn for_tenant(&self, tenant: &str) -> Option<&Hashring> {
        self.index_for_tenant(tenant).map(|i| &self.rings[i])
    }

    /// True when some hashring lists `tenant` by its exact name (not by a glob and not
    /// as a catch-all). Used to bound metric label values to configured tenants.
    pub fn names_tenant(&self, tenant: &str) -> bool {
        self.rings
            .iter()
            .any(|r| matches!(&r.matcher, Matcher::Exact(set) if set.contains(tenant)))
    }

    /// Index of [`Hashrings::for_tenant`]'s answer. Cached per tenant.
    pub fn index_for_tenant(&self, tenant: &str) -> Option<usize> {
        if let Ok(cache) = self.cache.read()
            && let Some(hit) = cache.get(tenant)
        {
            return *hit;
        }
        let found = self.rings.iter().position(|r| r.matcher.matches(tenant));
        if let Ok(mut cache) = self.cache.write()
            && cache.len() < TENANT_CACHE_MAX
        {
            cache.insert(tenant.to_string(), found);
        }
        found
    }
}

fn build_one(
    index: usize,
    spec: &HashringSpec,
    opts: &BuildOptions,
) -> Result<Hashring, Vec<String>> {
    let name = spec.display_name(index);
    let algorithm = spec.algorithm.unwrap_or(opts.default_algorithm);
    let rf = opts.replication_factor;
    let mut problems = Vec::new();
    check_endpoints(&name, spec, rf, &mut problems);
    check_zones(&name, spec, algorithm, rf, &mut problems);
    check_shuffle_sharding(&name, spec, algorithm, &mut problems);
    let matcher = tenant_matcher(&name, spec, &mut problems);
    if !problems.is_empty() {
        return Err(problems);
    }
    let addresses: Vec<&str> = spec.endpoints.iter().map(|e| e.address.as_str()).collect();
    let azs: Vec<&str> = spec.endpoints.iter().map(|e| e.az.as_str()).collect();
    let placement = match algorithm {
        Algorithm::Hashmod => Placement::hashmod(&addresses),
        Algorithm::Ketama => Placement::ketama(&addresses, &azs, opts.sections_per_node, rf),
    };
    let shuffle = match &spec.shuffle_sharding_config {
        Some(cfg) if cfg.shard_size > 0 => Some(
            Shuffle::new(cfg, &addresses, &azs, opts.sections_per_node, rf).map_err(|p| {
                p.into_iter()
                    .map(|p| format!("hashring {name}: {p}"))
                    .collect::<Vec<_>>()
            })?,
        ),
        _ => None,
    };
    Ok(Hashring {
        name,
        algorithm,
        tenants: spec.tenants.clone(),
        matcher,
        endpoints: spec
            .endpoints
            .iter()
            .map(|e| Endpoint {
                address: e.address.clone(),
                az: e.az.clone(),
                target: url::Target::resolve(opts.protocol, &opts.url_template, &e.address),
            })
            .collect(),
        placement,
        shuffle,
        replication_factor: rf,
        external_labels: spec.external_labels.clone(),
    })
}

/// What a router logs as warnings about shuffle sharding, and the shard sizes whose
/// tenants' writes will fail because a zone is too small for them.
fn shard_warnings(ring: &Hashring, warnings: &mut Vec<Warning>) {
    let Some(shuffle) = &ring.shuffle else {
        return;
    };
    let largest = shuffle.largest_zone();
    let mut seen = HashSet::new();
    for size in shuffle.shard_sizes() {
        if !seen.insert(size) {
            continue;
        }
        if let Err(e) = shuffle.fits(size) {
            warnings.push(Warning {
                problem: format!(
                    "hashring {}: tenants with shard size {size} cannot be placed and their writes fail, as a router's do ({e})",
                    ring.name
                ),
                fix: "add endpoints to that zone or lower the shard size".into(),
            });
        } else if size > largest {
            warnings.push(Warning {
                problem: format!(
                    "hashring {}: shard size {size} is larger than a zone ({largest} endpoints at most): a tenant's shard takes several endpoints of a zone, so losing one zone loses several of its endpoints",
                    ring.name
                ),
                fix: "keep shard sizes at most the endpoints of a zone times the number of zones, or add endpoints per zone".into(),
            });
        }
    }
}

/// Enough endpoints for the replication factor, none empty, none listed twice.
fn check_endpoints(name: &str, spec: &HashringSpec, rf: usize, problems: &mut Vec<String>) {
    if spec.endpoints.is_empty() {
        problems.push(format!("hashring {name}: no endpoints"));
    } else if spec.endpoints.len() < rf {
        problems.push(format!(
            "hashring {name}: replication factor {rf} needs at least {rf} endpoints, it has {}",
            spec.endpoints.len()
        ));
    }
    let mut seen = HashSet::new();
    for e in &spec.endpoints {
        if e.address.is_empty() {
            problems.push(format!("hashring {name}: an endpoint has an empty address"));
        } else if !seen.insert(e.address.as_str()) {
            problems.push(format!(
                "hashring {name}: endpoint {:?} is listed twice",
                e.address
            ));
        }
    }
}

/// Zones only with ketama, and in a layout that can hold `rf` replicas spread evenly.
fn check_zones(
    name: &str,
    spec: &HashringSpec,
    algorithm: Algorithm,
    rf: usize,
    problems: &mut Vec<String>,
) {
    let mut az_sizes: BTreeMap<&str, usize> = BTreeMap::new();
    for e in &spec.endpoints {
        *az_sizes.entry(e.az.as_str()).or_insert(0) += 1;
    }
    let has_az = spec.endpoints.iter().any(|e| !e.az.is_empty());
    match algorithm {
        Algorithm::Hashmod if has_az => problems.push(format!(
            "hashring {name}: Hashmod algorithm does not support AZ aware hashring configuration. Either use Ketama or remove AZ configuration."
        )),
        Algorithm::Ketama
            if az_sizes.len() > 1 && spec.endpoints.len() >= rf && !config::az_layout_places(&az_sizes, rf) =>
        {
            let layout: Vec<String> = az_sizes.iter().map(|(az, n)| format!("{az:?}: {n}")).collect();
            problems.push(format!(
                "hashring {name}: availability zones ({}) cannot hold {rf} replicas spread evenly (a Thanos router hangs on this layout); add endpoints to the small zones or lower the replication factor",
                layout.join(", ")
            ));
        }
        _ => {}
    }
}

/// Shuffle sharding as Thanos accepts it: ketama only, and a shard size no larger than
/// the hashring.
fn check_shuffle_sharding(
    name: &str,
    spec: &HashringSpec,
    algorithm: Algorithm,
    problems: &mut Vec<String>,
) {
    let Some(cfg) = &spec.shuffle_sharding_config else {
        return;
    };
    if cfg.shard_size == 0 {
        return;
    }
    if algorithm != Algorithm::Ketama {
        problems.push(format!(
            "hashring {name}: hashmod algorithm does not support shuffle sharding. Either use Ketama or remove shuffle sharding configuration"
        ));
    }
    if cfg.shard_size > spec.endpoints.len() {
        problems.push(format!(
            "hashring {name}: shard size {} is larger than number of nodes in hashring ({})",
            cfg.shard_size,
            spec.endpoints.len()
        ));
    }
}

/// Which tenants the hashring takes: everyone, an exact list, or glob patterns.
fn tenant_matcher(name: &str, spec: &HashringSpec, problems: &mut Vec<String>) -> Matcher {
    if spec.tenants.is_empty() {
        return Matcher::Everyone;
    }
    match spec.tenant_matcher_type {
        MatcherType::Exact => Matcher::Exact(spec.tenants.iter().cloned().collect()),
        MatcherType::Glob => {
            let mut patterns = Vec::new();
            for t in &spec.tenants {
                match glob::Pattern::new(t) {
                    Ok(p) => patterns.push(p),
                    Err(e) => problems.push(format!("hashring {name}: bad glob {t:?}: {e}")),
                }
            }
            Matcher::Glob(patterns)
        }
    }
}
