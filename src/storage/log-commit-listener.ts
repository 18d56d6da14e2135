// One dedicated PostgreSQL connection per replica that LISTENs for commits of new event-log
// rows (the NOTIFY of migration 0004), reconnecting with backoff when it drops.
import pg from "pg";
import { clientCurrentSchema } from "./current-schema.js";
import type { PostgresDatabase } from "./database.js";

/** The channel migration 0004's trigger notifies; its payload is the table's schema. */
const CHANNEL = "nixfleet_cp_event_log";
/** How the connection shows in pg_stat_activity. */
export const LISTENER_APPLICATION_NAME = "nixfleet-cp-listen";

/** What the listener reports. */
export interface LogCommitHandlers {
  /**
   * Event-log rows of this store may have committed: after every NOTIFY of our schema, and
   * after every (re)connection, since notifications sent while disconnected are lost.
   */
  readonly onCommit: () => void;
  /** The connection failed or dropped; it is retried. */
  readonly onError: (error: unknown) => void;
}

/** A running listener. */
export interface LogCommitListener {
  /** Ends the connection and stops reconnecting. Idempotent. */
  close(): Promise<void>;
}

/**
 * Listens on its own connection (outside the pool, so a busy pool never delays a wakeup).
 * Reconnects after 100 ms, doubling up to `maxBackoffMs`, until closed.
 */
export function listenForLogCommits(
  database: PostgresDatabase,
  handlers: LogCommitHandlers,
  options: { maxBackoffMs?: number } = {},
): LogCommitListener {
  const maxBackoffMs = options.maxBackoffMs ?? 5000;
  const connectionString = database.pool.options.connectionString;
  let current: pg.Client | undefined;
  let timer: NodeJS.Timeout | undefined;
  let backoffMs = 100;
  let closed = false;

  function retry(client: pg.Client, error: unknown): void {
    if (client !== current) return;
    current = undefined;
    client.end().catch(() => {});
    if (closed) return;
    handlers.onError(error);
    timer = setTimeout(connect, backoffMs);
    backoffMs = Math.min(backoffMs * 2, maxBackoffMs);
  }

  async function connect(): Promise<void> {
    timer = undefined;
    const client = new pg.Client({
      connectionString,
      application_name: LISTENER_APPLICATION_NAME,
      keepAlive: true,
    });
    current = client;
    client.on("error", (error) => retry(client, error));
    client.on("end", () => retry(client, new Error("the LISTEN connection ended")));
    try {
      await client.connect();
      const schema = await clientCurrentSchema(client);
      client.on("notification", (message) => {
        if (message.channel === CHANNEL && message.payload === schema) handlers.onCommit();
      });
      await client.query(`listen ${CHANNEL}`);
    } catch (error) {
      retry(client, error);
      return;
    }
    if (client !== current) return;
    backoffMs = 100;
    // Catch up on whatever committed while no connection was listening.
    handlers.onCommit();
  }

  void connect();
  return {
    async close() {
      if (closed) return;
      closed = true;
      clearTimeout(timer);
      const client = current;
      current = undefined;
      await client?.end().catch(() => {});
    },
  };
}
