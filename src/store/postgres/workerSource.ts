/**
 * The thread that talks to PostgreSQL for one store. Node cannot wait on a socket synchronously
 * and the store's interface is synchronous, so this thread owns the pool and the main thread waits
 * on an Atomics cell per call. Inline CommonJS, with pg required from the path the main thread
 * resolved, so it runs the same from src/ (tests) and from the bundled dist/.
 *
 * The shared Int32 cells: [0] the id of the newest answered call (the main thread waits on it);
 * [1] the change counter, bumped at every NOTIFY on authctl_store and whenever the listener
 * (re)connects or fails (a notification may have been missed meanwhile); [2] the database's state
 * (below).
 */

/** No listener yet (starting, or it failed for another reason than the network): calls go to the database, nothing cached is trusted. */
export const UNLISTENED = 0;
/** The listener is up: a cached read is trusted until the change counter moves. */
export const LISTENING = 1;
/**
 * The database stopped answering (a call lost its connection or got no answer, the listener
 * dropped): calls are refused at once, without a round-trip, until one background probe connects,
 * answers SELECT 1 and LISTENs again. A silent partition then costs one timeout, not one per call.
 */
export const UNREACHABLE = 2;

export const WORKER_SOURCE = `
const { workerData } = require("node:worker_threads");
const pg = require(workerData.pgPath);
const { config, port, cells, lockKey, heartbeatMs, heartbeatTimeoutMs, probeBackoffMs } = workerData;
const UNLISTENED = ${UNLISTENED}, LISTENING = ${LISTENING}, UNREACHABLE = ${UNREACHABLE};

// BIGINT (times in ms, counts) and NUMERIC come back as numbers, as SQLite's integers do.
pg.types.setTypeParser(20, Number);
pg.types.setTypeParser(1700, Number);

const CONNECTION = /^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|ENOTFOUND|EAI_AGAIN|EPIPE|57P01|57P02|57P03|08\\w{3})$/;
// "timeout expired" (no code) is pg.Client's own connect timeout, which the probe meets on a silent
// partition: not counted, it let calls through to wait for the pool's connect timeout in turn.
const lost = (e) => CONNECTION.test(String(e && e.code)) || /Connection terminated|timeout exceeded when trying to connect|timeout expired|Client has encountered a connection error|Query read timeout/.test(String(e && e.message));
const down = () => Atomics.load(cells, 2) === UNREACHABLE;
// A pooled connection that died while idle (a restart): worth one retry, unlike a refused or timed-out connect.
const stale = (e) => /^(ECONNRESET|EPIPE|57P01|57P02)$/.test(String(e && e.code)) || /Connection terminated unexpectedly/.test(String(e && e.message));
const bytes = (v) => (v instanceof Uint8Array && !Buffer.isBuffer(v) ? Buffer.from(v.buffer, v.byteOffset, v.byteLength) : v);

const pool = new pg.Pool(config);
// An idle connection that dropped (the database restarted) leaves the pool; the next call makes a new one.
pool.on("error", () => {});
let closed = false;
let tx;
let txLost = false;
// A checked-out connection that drops between two calls of a transaction has no pending query to
// fail: without a listener its error would end this thread. The next call fails as lost instead.
const onTxError = () => { txLost = true; };

async function fresh(run) {
  // A pooled connection may have died while idle without the pool noticing yet: nothing was done
  // on it, so one retry on a new connection is safe.
  // Not once the database is known unreachable: the new connection would only wait for its timeout.
  try {
    return await run();
  } catch (e) {
    if (!stale(e) || down()) throw e;
    return run();
  }
}

async function begin() {
  tx = await fresh(async () => {
    const client = await pool.connect();
    try {
      await client.query("BEGIN");
      return client;
    } catch (e) {
      client.release(e);
      throw e;
    }
  });
  txLost = false;
  tx.on("error", onTxError);
  try {
    await tx.query("SELECT pg_advisory_xact_lock($1)", [lockKey]);
  } catch (e) {
    await end(e);
    throw e;
  }
}

async function end(error) {
  const client = tx;
  tx = undefined;
  if (!client) return;
  client.removeListener("error", onTxError);
  if (error || txLost) {
    // Dropping the connection rolls back as well: a ROLLBACK sent where the database went silent
    // would hold every call queued behind it for a query timeout.
    try { if (!txLost && !lost(error) && !down()) await client.query("ROLLBACK"); } catch {}
    client.release(true);
    return;
  }
  client.release();
}

async function handle(m) {
  if ((m.inTx || m.op === "savepoint" || m.op === "commit") && !tx) throw new Error("no transaction is open (it was rolled back)");
  switch (m.op) {
    case "query": {
      const params = (m.params || []).map(bytes);
      const r = m.inTx
        ? await tx.query(m.sql, params).catch((e) => { if (lost(e)) txLost = true; throw e; })
        : await fresh(() => pool.query(m.sql, params));
      return { rows: r.rows, changes: r.rowCount || 0 };
    }
    case "savepoint":
      await tx.query(m.sql);
      return {};
    case "begin":
      await begin();
      return {};
    case "commit":
      try {
        if (m.notify) await tx.query("SELECT pg_notify('authctl_store', '')");
        await tx.query("COMMIT");
      } catch (e) {
        await end(e);
        throw e;
      }
      await end();
      return {};
    case "rollback":
      await end(new Error("rolled back"));
      return {};
    case "close":
      closed = true;
      clearTimeout(retry);
      clearInterval(beat);
      await end(new Error("closed"));
      // A brief chance to say goodbye to the server; a connection still being made is not waited
      // for (the thread is terminated next).
      await Promise.race([
        Promise.all([listener && listener.end().catch(() => {}), pool.end().catch(() => {})]),
        new Promise((resolve) => setTimeout(resolve, 200)),
      ]);
      return {};
  }
  throw new Error("unknown op " + m.op);
}

function answer(id, message) {
  port.postMessage(Object.assign({ id }, message));
  Atomics.store(cells, 0, id);
  Atomics.notify(cells, 0);
}

let queue = Promise.resolve();
port.on("message", (m) => {
  // Not queued: the main thread gave up on a call that is still running ahead of anything queued.
  if (m.op === "unreachable") return unreachable();
  queue = queue.then(() =>
    handle(m).then(
      (result) => answer(m.id, result),
      (e) => {
        // Marked before the answer, so the caller's next call already sees it.
        if (lost(e)) unreachable();
        answer(m.id, { error: { code: e && e.code ? String(e.code) : undefined, message: String((e && e.message) || e), lost: lost(e) } });
      },
    ),
  );
});

const bump = () => Atomics.add(cells, 1, 1);
const setState = (state) => Atomics.store(cells, 2, state);
// The connection that LISTENs while the state is LISTENING; otherwise the probe trying to become it.
let listener;
let listening = false;
let beat;
let retry;
let backoff = 0;

function drop() {
  clearInterval(beat);
  const client = listener;
  listener = undefined;
  listening = false;
  if (client) client.end().catch(() => {});
}

/** One probe at a time: a live listener is dropped (it may be as dead as the call's connection) and probed anew. */
function unreachable() {
  if (closed) return;
  setState(UNREACHABLE);
  bump();
  if (!listening) return;
  drop();
  listen();
}

/**
 * A new connection, SELECT 1, LISTEN: the probe that ends UNREACHABLE and the listener after it
 * are one connection. Whatever was committed meanwhile came with no notification, so the counter
 * moves (every cache drops what it holds) before the calls go through again.
 */
function listen() {
  retry = undefined;
  if (closed) return;
  // Named apart, so an operator (or a test) can tell it from the pool's connections.
  const client = new pg.Client(Object.assign({}, config, { application_name: "authctl-listener" }));
  listener = client;
  let failed = false;
  const fail = (e) => {
    if (failed || listener !== client) return;
    failed = true;
    const wasListening = listening;
    drop();
    if (closed) return;
    // A refused login or a missing database is not the network: calls still go and say so
    // themselves, and the listener retries less often (each try is a login).
    const network = e === undefined || lost(e);
    setState(network ? UNREACHABLE : UNLISTENED);
    bump();
    backoff = wasListening ? 0 : Math.min(Math.max(backoff * 2, probeBackoffMs[0]), network ? probeBackoffMs[1] : 4 * probeBackoffMs[1]);
    retry = setTimeout(listen, backoff);
  };
  client.on("error", fail);
  client.on("end", () => fail());
  client.on("notification", bump);
  client
    .connect()
    .then(() => client.query({ text: "SELECT 1", query_timeout: heartbeatTimeoutMs }))
    .then(() => client.query({ text: "LISTEN authctl_store", query_timeout: heartbeatTimeoutMs }))
    .then(() => {
      if (failed || listener !== client || closed) return;
      listening = true;
      backoff = 0;
      bump();
      setState(LISTENING);
      // A connection cut without a FIN (a partition) would keep a silent listener: a heartbeat notices.
      beat = setInterval(() => void client.query({ text: "SELECT 1", query_timeout: heartbeatTimeoutMs }).catch(fail), heartbeatMs);
    })
    .catch(fail);
}
listen();
`;
