// The composition root of `serve`: open and migrate the store, start the reducer, then
// listen; and the reverse on shutdown, answering everything that was accepted.
import { setMaxListeners } from "node:events";
import type { AddressInfo } from "node:net";
import type { ConnectRouter } from "@connectrpc/connect";
import type { Logger } from "pino";
import {
  Health,
  HealthCheckResponse_ServingStatus as ServingStatus,
} from "../../gen/grpc/health/v1/health_pb.js";
import { AgentEventsService } from "../../gen/nixfleet/agent/v1/agent_events_service_pb.js";
import { HostService } from "../../gen/nixfleet/ops/v1/host_service_pb.js";
import { RolloutService } from "../../gen/nixfleet/ops/v1/rollout_service_pb.js";
import type { ServiceConfig } from "../config/service-config.js";
import { type Instant, instantFromEpochNanos } from "../core/instant.js";
import { createBoundedChannel } from "../runtime/bounded-channel.js";
import { type Clock, systemClock } from "../runtime/clock.js";
import { createFollowedWatchHub } from "../runtime/followed-watch-hub.js";
import { startLivenessMonitor } from "../runtime/liveness-monitor.js";
import { cachedLookup, createRecordHeadCache } from "../runtime/record-head-cache.js";
import { type PendingItem, startReducer } from "../runtime/reducer.js";
import { createStoreHealth } from "../runtime/store-health.js";
import { createWatchHub } from "../runtime/watch-hub.js";
import type { WorkItem, WorkOutcome } from "../storage/apply-batch.js";
import { checkNoNewerMigrations, checkSchemaUsable } from "../storage/check-schema.js";
import { countHostsByState } from "../storage/count-hosts.js";
import { createDatabase, type Database } from "../storage/database.js";
import { countHosts } from "../storage/hosts.js";
import { listenForLogCommits } from "../storage/log-commit-listener.js";
import { migrateToLatest } from "../storage/migrate.js";
import type { OpenRolloutRequest, OpenRolloutResult } from "../storage/open-rollout.js";
import { createRecordHeadLookup } from "../storage/record-head.js";
import { classifyStoreError } from "../storage/store-error.js";
import { createStoreWriter } from "../storage/store-writer.js";
import { createAgentEventsService } from "./agent-events-service.js";
import { requiredRoles } from "./authorize.js";
import { createCommitFanout } from "./commit-fanout.js";
import { createFleetServer } from "./create-fleet-server.js";
import { createHealthState } from "./health/health-state.js";
import { registerHealth } from "./health/register-health.js";
import { createHeartbeat } from "./heartbeat.js";
import { createHostService } from "./host-service.js";
import {
  createAuditInterceptor,
  createAuthInterceptor,
  createErrorMappingInterceptor,
  createFailureLogInterceptor,
  createMetricsInterceptor,
} from "./interceptors.js";
import { leanMethod } from "./lean-path.js";
import { listenOn } from "./listen-on.js";
import { createMetrics, type Metrics } from "./metrics.js";
import { type PlainListener, startPlainListener } from "./plain-listener.js";
import { createPostEvent, type PostEventDeps } from "./post-event.js";
import { createPostEvents } from "./post-events.js";
import { rateLimitedLog } from "./rate-limited-log.js";
import { registerReflection } from "./reflection/register-reflection.js";
import { createRevocationStore } from "./revocations.js";
import { createRolloutService } from "./rollout-service.js";
import {
  createTlsReloader,
  loadTlsMaterial,
  type TlsFiles,
  type TlsMaterial,
  type TlsReloadResult,
} from "./tls-context.js";
import { createHandshakeFailureHandler } from "./tls-handshake-failures.js";

/** A started service. */
export interface RunningService {
  /** The port the mTLS listener is bound to. */
  readonly port: number;
  /** The port of the plain metrics listener, when configured. */
  readonly metricsPort: number | undefined;
  /** The port of the plain health listener, when configured. */
  readonly healthPort: number | undefined;
  readonly database: Database;
  readonly metrics: Metrics;
  /** Opens a rollout through the service's writer (at the service's clock). */
  openRollout(request: OpenRolloutRequest): Promise<OpenRolloutResult>;
  /** Re-reads the server certificate, key and client CA now (SIGHUP); the last good set stays on failure. */
  reloadTls(): TlsReloadResult;
  /** Stops accepting, drains and commits what was accepted, answers it, closes. Idempotent. */
  shutdown(): Promise<void>;
}

type Phase = "starting" | "running" | "draining" | "stopped";

/** What a failed startup must close again, latest opened first. */
type Opened = (() => unknown)[];

/**
 * Starts the service described by `config`. When startup fails (e.g. the port is taken),
 * everything opened so far is closed before the error propagates, so the process can end.
 */
export async function startService(
  config: ServiceConfig,
  logger: Logger,
  clock: Clock = systemClock,
): Promise<RunningService> {
  const tlsFiles = { cert: config.tlsCert, key: config.tlsKey, ca: config.clientCa };
  const tls = loadTlsMaterial(tlsFiles);
  const database = await createDatabase(config.db);
  const opened: Opened = [() => database.close()];
  try {
    return await startOn(database, { config, logger, clock, tlsFiles, tls }, opened);
  } catch (error) {
    for (const close of opened.reverse()) {
      // A close that fails must not hide the startup failure or keep the rest open.
      await Promise.resolve()
        .then(close)
        .catch((e: unknown) => logger.warn({ err: e }, "close after failed startup failed"));
    }
    throw error;
  }
}

async function startOn(
  database: Database,
  setup: {
    config: ServiceConfig;
    logger: Logger;
    clock: Clock;
    tlsFiles: TlsFiles;
    tls: TlsMaterial;
  },
  opened: Opened,
): Promise<RunningService> {
  const { config, logger, clock, tlsFiles, tls } = setup;
  await checkNoNewerMigrations(database);
  const applied = await migrateToLatest(database);
  if (applied.length > 0) logger.info({ migrations: applied }, "database migrated");
  await checkSchemaUsable(database);

  let phase: Phase = "starting";
  const stopping = new AbortController();
  const streamsDone = new AbortController();
  // Every call in flight listens on these (Connect links each call's signal to the shutdown
  // signal and drops the listener when the call ends): many, but bounded by the streams open.
  setMaxListeners(0, stopping.signal, streamsDone.signal);
  const metrics = createMetrics();
  metrics.tlsCertificateNotAfter.set(tls.notAfterMs / 1000);
  const health = createHealthState([["", ServingStatus.NOT_SERVING]]);
  const setServing = (status: ServingStatus.SERVING | ServingStatus.NOT_SERVING) => {
    for (const name of [
      "",
      AgentEventsService.typeName,
      RolloutService.typeName,
      HostService.typeName,
    ])
      health.set(name, status);
  };
  setServing(ServingStatus.NOT_SERVING);

  // On a SQLite file every write, the reducer's commits (and their fsync) included, runs in a
  // writer thread, off the event loop.
  const writer = createStoreWriter(database, config.db, {
    limits: { maxProbes: config.maxProbesPerRecord },
    onExit(error) {
      store.report(error);
      logger.error({ err: error }, "the SQLite writer thread ended; the next write starts another");
    },
  });
  opened.push(() => writer.close());
  // Started now, beside the rest of startup (a thread loads its own modules): the first batch
  // should not wait for it, and a file the thread cannot write fails startup, not a request.
  const writerReady = writer.ping().then(
    () => undefined,
    (error: unknown) => error,
  );
  const store = createStoreHealth({
    ping: () => writer.ping(),
    isOutage: (error) => classifyStoreError(error) === "outage",
    intervalMs: config.storeProbeIntervalMs,
    idleIntervalMs: config.storeProbeIntervalMs * 5,
    onChange(reachable, error) {
      // The error's own text stays here, in the log; replies never carry it.
      if (reachable) logger.info("the store answers again; ready");
      else logger.error({ err: error }, "the store is unreachable; not ready");
    },
  });
  opened.push(() => store.stop());

  const revocations = createRevocationStore(
    config.revocations,
    (error) => logger.error({ err: error }, "revocations file not reloaded"),
    (entries) => {
      writer
        .upsertRevocations(
          entries.map((e) => ({
            machineId: e.machineId,
            notBefore: instantFromEpochNanos(BigInt(e.notBeforeMs) * 1_000_000n) as Instant,
            reason: e.reason,
          })),
        )
        .catch((error: unknown) =>
          logger.error({ err: error }, "revocations not mirrored to the database"),
        );
      logger.info({ count: entries.length }, "revocations loaded");
    },
  );
  opened.push(() => revocations.close());

  const channel = createBoundedChannel<PendingItem<WorkItem, WorkOutcome>>(config.channelCapacity);
  // SQLite: this process is the only writer, so the reducer publishes its own commits. On
  // PostgreSQL every replica commits: the hub follows the shared log instead, woken by the
  // reducer after a local batch and by one LISTEN connection for everyone else's.
  const follower =
    database.kind === "postgres"
      ? createFollowedWatchHub({
          db: database.db,
          onError: (error, rolloutId) =>
            logger.error({ err: error, rolloutId }, "watch could not follow the event log"),
        })
      : undefined;
  const hub = follower ?? createWatchHub();
  const logCommits =
    database.kind === "postgres" && follower !== undefined
      ? listenForLogCommits(database, {
          onCommit: () => follower.poke(),
          onError: (error) =>
            logger.warn({ err: error }, "event-log LISTEN connection lost; reconnecting"),
        })
      : undefined;
  opened.push(
    () => follower?.close(),
    () => logCommits?.close(),
  );
  const readHead = createRecordHeadLookup(database);
  // Only with SQLite is this process the one writer, so only then is a cached head exact;
  // on PostgreSQL other replicas commit too and the lookup reads the database.
  const heads = database.kind === "sqlite" ? createRecordHeadCache(200_000) : undefined;
  const liveness = await startLivenessMonitor({
    database,
    clock,
    heartbeatIntervalMs: config.heartbeatIntervalMs,
    onError: (error) => logger.error({ err: error }, "host liveness check failed"),
  });
  liveness.subscribe((change) =>
    metrics.livenessChanges.inc({ to: change.reachable ? "reachable" : "unreachable" }),
  );
  const reducer = startReducer<WorkItem, WorkOutcome>({
    channel,
    apply: (items) => writer.applyWork(items, clock.now()),
    batchSize: config.batchSize,
    delayMs: config.debugReducerDelayMs,
    isDataError: (error) => classifyStoreError(error) === "data",
    onBatch(report) {
      metrics.batchSize.observe(report.size);
      metrics.commitSeconds.observe(report.commitSeconds);
      metrics.reducerLagSeconds.observe(report.lagSeconds);
      if (report.failed) metrics.batchFailures.inc();
    },
    onCommitted: createCommitFanout({
      heads,
      hub,
      // On PostgreSQL the log follower publishes every replica's commits, this one's too.
      publishes: follower === undefined,
      ...(follower === undefined ? {} : { poke: () => follower.poke() }),
      liveness,
      metrics,
    }),
    onError(error, size) {
      store.report(error);
      logger.error(
        { err: error, batch: size },
        "batch commit failed; its requests were answered unavailable",
      );
    },
  });
  opened.push(() => {
    channel.close();
    return reducer.done;
  });
  metrics.bind({
    channelDepth: () => channel.depth,
    channelCapacity: channel.capacity,
    hostCounts: () => countHostsByState(database.db, 50),
    livenessCounts: () => countHosts(database.db, liveness.cutoff()),
  });
  const writerFailed = await writerReady;
  if (writerFailed !== undefined) throw writerFailed;
  phase = "running";
  setServing(ServingStatus.SERVING);

  const eventDeps: PostEventDeps = {
    channel,
    lookup: heads === undefined ? readHead : cachedLookup(heads, readHead),
    isAccepting: () => phase === "running",
    retryAfterSeconds: config.retryAfterSeconds,
    requireSignatures: config.requireSignatures,
    storeReachable: () => store.reachable,
    onStoreError: (error) => store.report(error),
    observer: {
      onVerdict: (kind, outcome) => metrics.events.inc({ kind, outcome }),
      onRefused: (refusal, protocol) => metrics.refusals.inc({ reason: refusal.reason, protocol }),
      onRejected: (error, context) =>
        logger.warn({ code: error.code, reason: error.message, ...context }, "event rejected"),
    },
  };
  const postEvent = createPostEvent(eventDeps);
  const postEvents = createPostEvents({ ...eventDeps, maxEventsPerCall: config.maxEventsPerCall });
  const heartbeat = createHeartbeat({
    channel,
    isAccepting: () => phase === "running",
    retryAfterSeconds: config.retryAfterSeconds,
    observer: {
      onOutcome: (outcome) => metrics.heartbeats.inc({ outcome }),
      onRejected: (error, context) =>
        logger.warn({ code: error.code, reason: error.message, ...context }, "heartbeat rejected"),
    },
  });
  const agentEvents = createAgentEventsService(postEvent, postEvents, heartbeat);
  const routes = (router: ConnectRouter) => {
    router.service(AgentEventsService, agentEvents);
    router.service(
      HostService,
      createHostService({
        database,
        liveness,
        heartbeatIntervalMs: config.heartbeatIntervalMs,
        stopping: stopping.signal,
      }),
    );
    router.service(
      RolloutService,
      createRolloutService({
        database,
        hub,
        clock,
        stopping: stopping.signal,
        openRollout: writer.openRollout,
      }),
    );
    registerHealth(router, health);
    if (config.reflection !== "off") {
      registerReflection(router, [AgentEventsService, RolloutService, HostService, Health]);
    }
  };
  const roles = requiredRoles(config.reflection);
  // A flood of refused requests (issue 11) must not become a flood of log lines.
  const logRefused = rateLimitedLog<object>((line) => logger.warn(line, "request refused"));
  const onThrown = (error: unknown) => {
    store.report(error);
    logger.error({ err: error }, "request failed unexpectedly");
  };
  const fleet = createFleetServer({
    roles,
    limits: config.limits,
    tls,
    identity: { agentCnSuffix: config.agentCnSuffix, operatorCns: config.operatorCns },
    revocations,
    routes,
    interceptors: [
      createMetricsInterceptor(metrics),
      createAuthInterceptor(logRefused, roles),
      createAuditInterceptor((write) => logger.info({ audit: true, ...write }, "operator write")),
      createFailureLogInterceptor((failure) => logger.warn(failure, "request failed")),
      createErrorMappingInterceptor(config.retryAfterSeconds, onThrown),
    ],
    // The lean path does what these interceptors do for the methods it serves.
    leanMethods:
      config.leanPath === "on"
        ? [
            leanMethod(AgentEventsService.method.postEvent, agentEvents.postEvent),
            leanMethod(AgentEventsService.method.postEvents, agentEvents.postEvents),
          ]
        : [],
    onRpcRejected: logRefused,
    onThrown,
    postEvent,
    postEvents,
    heartbeat,
    bindingRefusals: config.bindingRefusals,
    metrics,
    maxMessageBytes: config.maxMessageBytes,
    isReady: () => phase === "running" && store.reachable,
    isSaturated: () => channel.depth >= channel.capacity,
    retryAfterSeconds: config.retryAfterSeconds,
    shutdownSignal: streamsDone.signal,
    onTlsClientError: createHandshakeFailureHandler({
      count: (reason) => metrics.tlsHandshakeFailures.inc({ reason }),
      log: (failure) => logger.warn(failure, "TLS handshake failed"),
    }),
    onRefused: (error, peer, route) =>
      logRefused({ code: error.code, reason: error.message, peer, route }),
  });
  await listenOn(fleet.server, config.listen, "listen");
  opened.push(() => fleet.closeConnections(0));
  const port = (fleet.server.address() as AddressInfo).port;

  const tlsReloader = createTlsReloader({
    files: tlsFiles,
    initial: tls,
    apply: (m) => fleet.server.setSecureContext({ cert: m.cert, key: m.key, ca: m.ca }),
    onReload(outcome) {
      if (outcome.result === "unchanged") {
        // A signal deserves an answer; an unrelated file event in the directory does not.
        if (outcome.trigger === "SIGHUP") logger.info("TLS material unchanged");
        return;
      }
      metrics.tlsReloads.inc({ result: outcome.result });
      if (outcome.result === "failure") {
        logger.error(
          { trigger: outcome.trigger, reason: outcome.error.message },
          "TLS material not reloaded; still serving the previous certificate and client CA",
        );
        return;
      }
      metrics.tlsCertificateNotAfter.set(outcome.material.notAfterMs / 1000);
      logger.info(
        {
          trigger: outcome.trigger,
          notAfter: new Date(outcome.material.notAfterMs).toISOString(),
        },
        "TLS material reloaded; new connections use it",
      );
    },
  });
  opened.push(() => tlsReloader.close());

  const plainDeps = { metrics, isReady: () => phase === "running" && store.reachable };
  const plainListeners: PlainListener[] = [];
  // The metrics listener gets every plain route; the health listener only the health ones.
  const metricsListener =
    config.metricsListen === undefined
      ? undefined
      : await startPlainListener("metrics", config.metricsListen, plainDeps);
  if (metricsListener !== undefined) plainListeners.push(metricsListener);
  opened.push(() => metricsListener?.close());
  const healthListener =
    config.healthListen === undefined
      ? undefined
      : await startPlainListener("health", config.healthListen, plainDeps);
  if (healthListener !== undefined) plainListeners.push(healthListener);
  const metricsPort = metricsListener?.port;
  const healthPort = healthListener?.port;
  logger.info({ port, metricsPort, healthPort, db: database.kind }, "nixfleet-cp listening");

  let stopped: Promise<void> | undefined;
  async function shutdown(): Promise<void> {
    phase = "draining";
    health.shutdown();
    stopping.abort();
    logger.info({ queued: channel.depth }, "shutting down: draining accepted events");
    // New requests on open connections now get unavailable; queued ones are committed.
    channel.close();
    await fleet.stopAccepting();
    await reducer.done;
    liveness.stop();
    // Every accepted event is committed and settled; let the handlers write their replies,
    // then end what still streams (watches).
    await new Promise((resolve) => setImmediate(resolve));
    streamsDone.abort();
    // Before waiting for connections: a watch still waiting for its rollout to be followed
    // is refused now rather than held until the timeout.
    await logCommits?.close();
    await follower?.close();
    await fleet.closeConnections(config.shutdownTimeoutMs);
    revocations.close();
    tlsReloader.close();
    await Promise.all(plainListeners.map((l) => l.close()));
    store.stop();
    // The reducer is drained: every acknowledged batch was committed by the thread.
    await writer.close();
    await database.close();
    phase = "stopped";
    logger.info("stopped");
  }

  return {
    port,
    metricsPort,
    healthPort,
    database,
    metrics,
    openRollout: (request) => writer.openRollout(request, clock.now()),
    reloadTls: () => tlsReloader.reload("SIGHUP"),
    shutdown() {
      stopped ??= shutdown();
      return stopped;
    },
  };
}
