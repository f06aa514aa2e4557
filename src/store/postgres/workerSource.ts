/**
 * The thread that talks to PostgreSQL for one store. Node cannot wait on a socket synchronously
 * and the store's interface is synchronous, so this thread owns the pool and the main thread waits
 * on an Atomics cell per call. Inline CommonJS, with pg required from the path the main thread
 * resolved, so it runs the same from src/ (tests) and from the bundled dist/.
 *
 * The shared Int32 cells: [0] the id of the newest answered call (the main thread waits on it);
 * [1] the change counter, bumped at every NOTIFY on authctl_store and whenever the listener
 * (re)connects or fails (a notification may have been missed meanwhile); [2] 1 while the listener
 * is up, 0 while it is down (nothing cached may be trusted then).
 */
export const WORKER_SOURCE = `
const { workerData } = require("node:worker_threads");
const pg = require(workerData.pgPath);
const { config, port, cells, lockKey, heartbeatMs } = workerData;

// BIGINT (times in ms, counts) and NUMERIC come back as numbers, as SQLite's integers do.
pg.types.setTypeParser(20, Number);
pg.types.setTypeParser(1700, Number);

const CONNECTION = /^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|ENOTFOUND|EAI_AGAIN|EPIPE|57P01|57P02|57P03|08\\w{3})$/;
const lost = (e) => CONNECTION.test(String(e && e.code)) || /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|Query read timeout/.test(String(e && e.message));
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
  try {
    return await run();
  } catch (e) {
    if (!stale(e)) throw e;
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
    try { if (!txLost) await client.query("ROLLBACK"); } catch {}
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
  queue = queue.then(() =>
    handle(m).then(
      (result) => answer(m.id, result),
      (e) => answer(m.id, { error: { code: e && e.code ? String(e.code) : undefined, message: String((e && e.message) || e), lost: lost(e) } }),
    ),
  );
});

const bump = () => Atomics.add(cells, 1, 1);
let listener;
let backoff = 100;
function listen() {
  if (closed) return;
  // Named apart, so an operator (or a test) can tell it from the pool's connections.
  const client = new pg.Client(Object.assign({}, config, { application_name: "authctl-listener" }));
  listener = client;
  let failed = false;
  let beat;
  const retry = () => {
    if (failed) return;
    failed = true;
    clearInterval(beat);
    Atomics.store(cells, 2, 0);
    bump();
    client.end().catch(() => {});
    if (closed) return;
    setTimeout(listen, backoff);
    backoff = Math.min(backoff * 2, 2000);
  };
  client.on("error", retry);
  client.on("end", retry);
  client.on("notification", bump);
  client
    .connect()
    .then(() => client.query("LISTEN authctl_store"))
    .then(() => {
      if (failed) return;
      backoff = 100;
      Atomics.store(cells, 2, 1);
      bump();
      // A connection cut without a FIN (a partition) would keep a silent listener: a heartbeat notices.
      beat = setInterval(() => void client.query("SELECT 1").catch(retry), heartbeatMs);
    })
    .catch(retry);
}
listen();
`;
