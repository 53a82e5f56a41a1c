//! The per-request pipeline: admission caps → tenant → body within limits → decode and
//! validate (OTLP: translate, then decode the translation) → tenant-label policy and
//! rules → rate limits → replicate per tenant → one status.

use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use rwgate_wire::{Counts, Protocol, RefusalReason, Rejections, WireError, WriteBatch};
use tokio::sync::SemaphorePermit;
use tracing::Instrument;

use crate::admission::{self, BodyError, BodyPace};
use crate::app::{App, Runtime};
use crate::error::{Format, IngestError, Reply};
use crate::events;
use crate::otlp;
use crate::replicate::{Group, Replicated, replicate};
use crate::tenancy::ratelimit::Demand;
use crate::tenancy::{Identity, TenancyError, TenancyState, escape, rules};
use crate::tls::PeerIdentity;

/// Which kind of endpoint a request came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    RemoteWrite,
    Otlp,
}

/// `POST /api/v1/receive`.
pub async fn ingest(State(app): State<Arc<App>>, req: Request) -> Response {
    serve(app, req, Route::RemoteWrite).await
}

/// `POST /api/v1/otlp/v1/metrics`, `/otlp/v1/metrics`, `/v1/metrics`.
pub async fn otlp_metrics(State(app): State<Arc<App>>, req: Request) -> Response {
    serve(app, req, Route::Otlp).await
}

async fn serve(app: Arc<App>, req: Request, route: Route) -> Response {
    let started = Instant::now();
    let peer = req
        .extensions()
        .get::<ConnectInfo<PeerIdentity>>()
        .map(|c| c.0.clone());
    let (parts, mut body) = req.into_parts();
    // One span per request: every log line of the request carries its peer, and the
    // protocol and tenant once they are known.
    let span = tracing::info_span!(
        "remote_write",
        peer = peer.as_ref().map(|p| tracing::field::display(p.addr)),
        protocol = tracing::field::Empty,
        tenant = tracing::field::Empty,
    );
    let (reply, drain) = app
        .handle(route, &parts.headers, &mut body, peer.as_ref())
        .instrument(span)
        .await;
    // A client waiting for `100 Continue` has sent no body: reading it now would ask
    // for the body of a request already refused.
    if let Some(max) = drain
        && !expects_continue(&parts.headers)
    {
        admission::drain(&mut body, max, app.pace()).await;
    }
    let status = reply.status();
    let protocol = reply.format.map_or("unknown", Format::as_str);
    events::RequestAnswered {
        status: status.as_u16(),
        protocol,
        elapsed: started.elapsed(),
    }
    .emit();
    reply.into_response()
}

fn header(headers: &HeaderMap, name: header::HeaderName) -> Option<&[u8]> {
    headers.get(name).map(|v| v.as_bytes())
}

/// The time rules a body is read (or drained) under.
fn pace(l: &crate::config::LimitsConfig) -> BodyPace {
    BodyPace {
        total: l.body_read_timeout,
        grace: l.body_rate_grace,
        min_rate: l.body_min_rate,
    }
}

fn expects_continue(headers: &HeaderMap) -> bool {
    headers
        .get(header::EXPECT)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"))
}

/// What is known about a request before its body is read.
struct Admitted {
    rings: Arc<rwgate_ring::Hashrings>,
    /// The request's one snapshot of what a reload may change.
    runtime: Arc<Runtime>,
    identity: Identity,
    limits: rwgate_wire::Limits,
    /// `Content-Length`, when the client sent one (already checked against the limit).
    announced: Option<usize>,
}

impl App {
    /// The metric label for a tenant: its name if configured, else `other`.
    pub(crate) fn tenant_label(&self, tenancy: &TenancyState, tenant: &str) -> String {
        let named =
            tenancy.is_known(tenant) || self.rings.load().is_some_and(|r| r.names_tenant(tenant));
        if named {
            tenant.to_string()
        } else {
            "other".to_string()
        }
    }

    fn update_inflight_gauges(&self) {
        let reqs =
            self.cfg.overload.max_inflight_requests - self.inflight_requests.available_permits();
        let bytes = self.cfg.overload.max_inflight_bytes - self.inflight_bytes.available_permits();
        events::Inflight {
            requests: reqs,
            bytes,
        }
        .emit();
    }

    fn reserve_bytes(&self, n: usize) -> Result<SemaphorePermit<'_>, IngestError> {
        let n = u32::try_from(n).map_err(|_| IngestError::Overloaded("bytes"))?;
        self.inflight_bytes.try_acquire_many(n).map_err(|_| {
            events::OverloadRejected("bytes").emit();
            IngestError::Overloaded("bytes")
        })
    }

    /// Charges to `held` what the batch's index and scratch space hold beyond the
    /// `charged` bytes already charged for them, and counts it in `charged`.
    fn charge_index_growth<'a>(
        &'a self,
        held: &mut SemaphorePermit<'a>,
        batch: &WriteBatch,
        charged: &mut usize,
    ) -> Result<(), IngestError> {
        if let Some(more) = batch.index_bytes().checked_sub(*charged).filter(|&n| n > 0) {
            held.merge(self.reserve_bytes(more)?);
            *charged += more;
        }
        Ok(())
    }

    /// The time rules a body is read (or drained) under.
    fn pace(&self) -> BodyPace {
        pace(&self.runtime.load().limits)
    }

    /// The whole pipeline for one request. A request refused before its body was read
    /// in full also says how much of the rest to drain.
    async fn handle(
        &self,
        route: Route,
        headers: &HeaderMap,
        body: &mut Body,
        peer: Option<&PeerIdentity>,
    ) -> (Reply, Option<usize>) {
        // One snapshot of what a reload may change, for the whole request.
        let rt = self.runtime.load_full();
        let max_body = rt.limits.max_body_bytes;
        let refuse = |format, e: IngestError, drain| {
            events::RequestRefused(&e).emit();
            (reply(format, Counts::default(), Some(e)), drain)
        };
        let content_type = header(headers, header::CONTENT_TYPE);
        let content_encoding = header(headers, header::CONTENT_ENCODING);
        let negotiated = match route {
            Route::RemoteWrite => rwgate_wire::negotiate(content_type, content_encoding)
                .map(Format::RemoteWrite)
                .map_err(|e| (None, e.into())),
            Route::Otlp => otlp::negotiate(content_type, content_encoding)
                .map(|(encoding, gzip)| Format::Otlp { encoding, gzip })
                .map_err(|e| {
                    let answer_as = Format::Otlp {
                        encoding: otlp::Encoding::Protobuf,
                        gzip: false,
                    };
                    (Some(answer_as), e.into())
                }),
        };
        let format = match negotiated {
            Ok(p) => p,
            Err((format, e)) => return refuse(format, e, Some(max_body)),
        };
        tracing::Span::current().record("protocol", format.as_str());
        if self.ready.is_shutting_down() {
            return refuse(Some(format), IngestError::ShuttingDown, Some(max_body));
        }
        let admitted = match self.admit(&rt, headers, peer) {
            Ok(a) => {
                let tenant = escape(&a.identity.tenant);
                tracing::Span::current().record("tenant", tracing::field::display(tenant));
                a
            }
            Err(e) => {
                let drain = if matches!(e, IngestError::Wire(_)) {
                    DRAIN_MAX_BYTES // announced over the limit: do not read it all
                } else {
                    max_body
                };
                return refuse(Some(format), e, Some(drain));
            }
        };
        let max_body = admitted.limits.max_compressed_bytes;
        let read = admission::read_body(
            body,
            max_body,
            admitted.announced,
            pace(&rt.limits),
            &self.inflight_bytes,
        )
        .await;
        let (compressed, _body_permit) = match read {
            Ok(r) => r,
            Err(e) => {
                let drain = match &e {
                    BodyError::Overloaded => {
                        events::OverloadRejected("bytes").emit();
                        Some(max_body)
                    }
                    BodyError::TooLarge { .. } => Some(DRAIN_MAX_BYTES),
                    BodyError::TooSlow { .. } | BodyError::Timeout(_) => {
                        let kind = if matches!(e, BodyError::Timeout(_)) {
                            "timeout"
                        } else {
                            "min_rate"
                        };
                        events::SlowBody(kind).emit();
                        None
                    }
                    BodyError::Read(_) => None,
                };
                return refuse(Some(format), e.into(), drain);
            }
        };
        // The slots are taken only now: a slow sender holds none while its body arrives.
        let Ok(_request_permit) = self.inflight_requests.try_acquire() else {
            events::OverloadRejected("requests").emit();
            return refuse(Some(format), IngestError::Overloaded("requests"), None);
        };
        let Some(_tenant_slot) = self.tenant_slots.try_acquire(&admitted.identity.tenant) else {
            events::OverloadRejected("tenant_requests").emit();
            return refuse(
                Some(format),
                IngestError::Overloaded("requests of this tenant"),
                None,
            );
        };
        self.update_inflight_gauges();
        let mut translation = Translation::default();
        let result = self
            .handle_admitted(format, compressed, admitted, &mut translation)
            .await;
        let (written, error) = match result {
            Ok(done) => done,
            Err(e) => (Counts::default(), Some(e)),
        };
        if let Some(e) = &error {
            events::RequestRefused(e).emit();
        }
        drop(_request_permit);
        self.update_inflight_gauges();
        let mut r = reply(Some(format), written, error);
        r.refused_points = translation.refused_points;
        r.refusal = translation.refusal;
        (r, None)
    }

    /// Everything decided from the headers: rings, tenant, limits.
    fn admit(
        &self,
        rt: &Arc<Runtime>,
        headers: &HeaderMap,
        peer: Option<&PeerIdentity>,
    ) -> Result<Admitted, IngestError> {
        let rings = self.rings.load().ok_or(IngestError::NotReady)?;
        let tenancy = &rt.tenancy;
        let identity = tenancy.resolve(headers, peer).inspect_err(|e| {
            let kind = match e {
                TenancyError::Unauthorized(_) => "unauthorized",
                TenancyError::Forbidden(_) => "forbidden",
                _ => return,
            };
            events::AuthFailed(kind).emit();
        })?;
        let limits = tenancy.wire_limits(&identity.tenant);
        let announced = headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if let Some(n) = announced
            && n > limits.max_compressed_bytes as u64
        {
            return Err(WireError::RequestBodyTooLarge {
                size: n,
                limit: limits.max_compressed_bytes as u64,
            }
            .into());
        }
        Ok(Admitted {
            rings,
            runtime: rt.clone(),
            identity,
            limits,
            // Not above the limit (checked above), so it fits a usize.
            announced: announced.map(|n| n as usize),
        })
    }

    async fn handle_admitted(
        &self,
        format: Format,
        compressed: Vec<u8>,
        a: Admitted,
        translation: &mut Translation,
    ) -> Result<(Counts, Option<IngestError>), IngestError> {
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        let request_label = self.tenant_label(&a.runtime.tenancy, &a.identity.tenant);
        let (mut batch, mut held, mut index_charged) = match format {
            Format::RemoteWrite(protocol) => {
                // Held until the forwards end: the decoded body, its index (estimated
                // at the decoded size, corrected after decoding), and the bodies
                // re-encoded for the receivers, about the compressed size once per
                // replica.
                let decoded = rwgate_wire::decoded_len(&compressed, &a.limits)?;
                let encoded = compressed.len() * self.cfg.replication_factor;
                let mut held = self.reserve_bytes(2 * decoded + encoded)?;
                self.update_inflight_gauges();
                let decompressed = self.buffers.decompress(&compressed, &a.limits)?;
                drop(compressed);
                let batch = self
                    .buffers
                    .decode(protocol, decompressed, &a.limits, now_ms)?;
                // The index was charged as the decoded size; charge what it grew beyond.
                let mut index_charged = decoded;
                self.charge_index_growth(&mut held, &batch, &mut index_charged)?;
                (batch, held, index_charged)
            }
            Format::Otlp { encoding, gzip } => self.translate_otlp(
                encoding,
                gzip,
                compressed,
                &a,
                &request_label,
                now_ms,
                translation,
            )?,
        };
        self.count_received(&batch, &request_label);

        let routed = rules::route(
            &a.runtime.tenancy,
            &a.identity,
            &mut batch,
            |(reason, _, tenant), s| {
                let t = self.tenant_label(&a.runtime.tenancy, tenant);
                self.discarded(&t, reason.id(), s.counts().total_samples());
            },
        )?;
        // Relabeling and the tenant-label policy re-encode series into the batch's
        // scratch space: charge what it grew by, as for decoding.
        self.charge_index_growth(&mut held, &batch, &mut index_charged)?;
        events::RelabelCacheUsed(routed.relabel_cache).emit();
        if routed.overwritten > 0 {
            events::TenantLabelOverwritten {
                tenant: &request_label,
                series: routed.overwritten,
            }
            .emit();
        }
        let invalid = invalid_series(batch.rejected(), &routed.refused, batch.len());
        if batch.is_empty() {
            return Ok((Counts::default(), invalid));
        }
        // What each tenant group carries, summed once for the rate limits, the status
        // page and the quorum tally. One group of every series (nearly always) carries
        // what the batch does.
        let group_counts: Vec<Counts> = match routed.groups.as_slice() {
            [(_, series)] if series.len() == batch.len() => vec![batch.accepted()],
            groups => groups
                .iter()
                .map(|(_, series)| {
                    let mut c = Counts::default();
                    for &i in series {
                        c.add(batch.series(i as usize).counts());
                    }
                    c
                })
                .collect(),
        };
        self.check_rates(&a.runtime.tenancy, &batch, &routed, &group_counts)?;
        for ((tenant, _), counts) in routed.groups.iter().zip(&group_counts) {
            let samples = counts.total_samples();
            self.stats
                .accepted(&self.tenant_label(&a.runtime.tenancy, tenant), samples);
        }

        let deadline = Instant::now() + self.cfg.forward.deadline;
        let mut rings_for = Vec::with_capacity(routed.groups.len());
        for (tenant, _) in &routed.groups {
            let ring = a
                .rings
                .for_tenant(tenant)
                .ok_or_else(|| IngestError::NoHashring(escape(tenant)))?;
            rings_for.push(ring);
        }
        let sends = routed.groups.iter().zip(&rings_for).zip(&group_counts).map(
            |(((tenant, series), ring), &carried)| {
                let group = Group {
                    tenant,
                    series,
                    carried,
                };
                replicate(&self.forwarder, &batch, group, ring, deadline)
            },
        );
        let mut done = Replicated::default();
        for r in futures_util::future::join_all(sends).await {
            done.merge(r);
        }
        self.buffers.recycle_batch(batch);
        Ok((done.written, self.outcome(done, invalid)))
    }

    /// The OTLP body stage: un-gzip within `max_decoded_body_bytes`, parse, translate
    /// (refused points counted per reason and kept in `translation`), then decode the
    /// translation as a remote-write 1.0 body, so every check after it is the same.
    /// Returns the batch, the bytes held for it and how many of them cover its index.
    #[allow(clippy::too_many_arguments)]
    fn translate_otlp(
        &self,
        encoding: otlp::Encoding,
        gzip: bool,
        body: Vec<u8>,
        a: &Admitted,
        request_label: &str,
        now_ms: i64,
        translation: &mut Translation,
    ) -> Result<(WriteBatch, SemaphorePermit<'_>, usize), IngestError> {
        let limit = a.limits.max_decoded_bytes;
        // The body as sent is charged already (as it arrived); the un-gzipped one is
        // charged chunk by chunk as it grows.
        let mut held = self.reserve_bytes(0)?;
        let body = if gzip {
            otlp::gunzip(&body, limit, |n| {
                held.merge(self.reserve_bytes(n)?);
                Ok::<(), IngestError>(())
            })?
        } else if body.len() > limit {
            return Err(otlp::OtlpError::DecodedTooLarge { limit }.into());
        } else {
            body
        };
        // Held until the forwards end, besides the body: the parsed request (about 2.5
        // times the body: attributes borrow their strings but not their slots), the
        // translation and its index (about 1.5 times), and the bodies re-encoded and
        // compressed for the receivers (about a quarter each).
        let rf = self.cfg.replication_factor;
        held.merge(self.reserve_bytes(body.len() * 4 + body.len() / 4 * rf)?);
        self.update_inflight_gauges();
        let request = otlp::parse(encoding, &body)?;
        let settings = a
            .runtime
            .otlp
            .settings(&a.runtime.tenancy.settings().tenant_label);
        let translated = otlp::translate(&request, &settings, limit)
            .map_err(|e| otlp::OtlpError::TranslatedTooLarge { limit: e.limit })?;
        drop(request);
        drop(body);
        for (why, &points) in &translated.refused {
            self.discarded(request_label, why.id(), points);
        }
        events::OtlpPoints {
            translated: translated.points - translated.refused_points(),
            refused: translated.refused_points(),
            stale: translated.stale,
            cache_hits: translated.cache_hits,
            cache_misses: translated.cache_misses,
        }
        .emit();
        translation.refused_points = translated.refused_points();
        translation.refusal = translated.first_refusal;
        let size = translated.body.len();
        let batch = self
            .buffers
            .decode(Protocol::V1, translated.body.into(), &a.limits, now_ms)?;
        let mut charged = size;
        self.charge_index_growth(&mut held, &batch, &mut charged)?;
        Ok((batch, held, charged))
    }

    /// `tenant`'s rate and burst on this replica: the configured ones, divided by the
    /// live replicas under the `global` strategy.
    pub(crate) fn tenant_rate(&self, tenancy: &TenancyState, tenant: &str) -> Option<(f64, u64)> {
        let (rate, burst) = tenancy.rate(tenant)?;
        let limits = &self.runtime.load().limits;
        if limits.rate_limit_strategy != crate::config::RateLimitStrategy::Global {
            return Some((rate, burst));
        }
        let n = self.peers.count();
        Some((rate / n as f64, burst.div_ceil(n).max(1)))
    }

    /// Charges every tenant's rate for its samples (from `group_counts`, one per routed
    /// group), all or nothing.
    fn check_rates(
        &self,
        tenancy: &TenancyState,
        batch: &WriteBatch,
        routed: &rules::Routed,
        group_counts: &[Counts],
    ) -> Result<(), IngestError> {
        let demands: Vec<Demand<'_>> = routed
            .groups
            .iter()
            .zip(group_counts)
            .filter_map(|((tenant, _), counts)| {
                let (rate, burst) = self.tenant_rate(tenancy, tenant)?;
                Some(Demand {
                    tenant,
                    samples: counts.total_samples(),
                    rate,
                    burst,
                })
            })
            .collect();
        if demands.is_empty() {
            return Ok(());
        }
        self.limiter
            .take(&demands, Instant::now())
            .map_err(|(tenant, wait)| {
                let t = self.tenant_label(tenancy, &tenant);
                self.discarded(&t, "rate_limited", batch.accepted().total_samples());
                IngestError::RateLimited {
                    tenant,
                    retry_after: wait.as_secs_f64().ceil().clamp(1.0, 3600.0) as u32,
                }
            })
    }

    /// The one status of a request whose series were forwarded.
    fn outcome(&self, done: Replicated, invalid: Option<IngestError>) -> Option<IngestError> {
        if done.unavailable_series > 0 {
            events::QuorumFailed("unavailable").emit();
            Some(IngestError::Unavailable {
                series: done.unavailable_series,
                detail: done.unavailable_detail.unwrap_or_default(),
            })
        } else if invalid.is_some() {
            invalid
        } else if done.conflict_series > 0 {
            events::QuorumFailed("conflict").emit();
            Some(IngestError::Conflict {
                series: done.conflict_series,
                detail: done.conflict_detail.unwrap_or_default(),
            })
        } else {
            None
        }
    }

    fn count_received(&self, batch: &WriteBatch, tenant: &str) {
        events::BatchReceived {
            tenant,
            accepted: batch.accepted(),
            metadata: batch.metadata(),
            sorted: batch.sorted_series(),
        }
        .emit();
        for (reason, samples) in &batch.rejected().by_reason {
            self.discarded(tenant, reason.id(), *samples);
        }
    }

    /// Counts `samples` of `tenant` (its metric label) discarded for `reason`, on the
    /// status page and in `rwgate_discarded_samples_total`.
    fn discarded(&self, tenant: &str, reason: &'static str, samples: u64) {
        self.stats.refused(tenant, reason, samples);
        events::SamplesDiscarded {
            reason,
            tenant,
            samples,
        }
        .emit();
    }
}

/// The 400 for series refused by decoding or by the tenancy rules, if any: it names the
/// first refusal (decoding's first) and counts both.
fn invalid_series(
    decoding: &Rejections,
    rules: &Rejections<rules::RuleReason>,
    accepted: usize,
) -> Option<IngestError> {
    let rejected = decoding.series + rules.series;
    (rejected > 0).then(|| IngestError::Invalid {
        message: decoding
            .first
            .clone()
            .or_else(|| rules.first.clone())
            .unwrap_or_default(),
        rejected,
        total: rejected + accepted as u64,
    })
}

/// Most bytes read and thrown away from a request refused for its size: like Go's
/// net/http (256 KiB), enough for a client to see the status, without reading a body
/// that is known to be too large.
const DRAIN_MAX_BYTES: usize = 256 << 10;

/// What an OTLP request's translation refused, for its answer.
#[derive(Debug, Default)]
struct Translation {
    refused_points: u64,
    refusal: Option<String>,
}

fn reply(format: Option<Format>, written: Counts, error: Option<IngestError>) -> Reply {
    Reply {
        format,
        written,
        error,
        refused_points: 0,
        refusal: None,
    }
}
