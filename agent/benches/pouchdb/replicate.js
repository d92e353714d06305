// The peer the backlog bench is measured against (agent/benches/sync.rs): PouchDB, the
// offline-first store that replicates to a CouchDB-style server, pushing the same documents the
// till pushes to express-pouchdb over loopback.
//
//   node replicate.js DOCS.jsonl WORKDIR
//
// DOCS.jsonl holds one document a line (the outbox events' exact JSON). They are written to a
// LevelDB-backed PouchDB in WORKDIR first (not timed); the clock covers `replicate.to` from its
// start to its completion, against a server in its own process (as the hub is), itself on
// LevelDB. Prints one JSON line: {"docs": N, "ms": M}.
'use strict';

const fs = require('fs');
const path = require('path');
const { spawn } = require('child_process');

function serve(dir) {
  const express = require('express');
  const PouchDB = require('pouchdb').defaults({ prefix: dir + path.sep });
  const app = express();
  app.use('/', require('express-pouchdb')(PouchDB, { mode: 'minimumForPouchDB', logPath: path.join(dir, 'log.txt') }));
  const server = app.listen(0, '127.0.0.1', () => {
    process.stdout.write(`${server.address().port}\n`);
  });
}

async function main(docsFile, work) {
  fs.rmSync(work, { recursive: true, force: true });
  fs.mkdirSync(path.join(work, 'server'), { recursive: true });
  const server = spawn(process.execPath, [__filename, '--serve', path.join(work, 'server')], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const port = await new Promise((resolve, reject) => {
    server.stdout.once('data', (d) => resolve(String(d).trim()));
    server.once('exit', (code) => reject(new Error(`server exited with ${code}`)));
  });
  try {
    const PouchDB = require('pouchdb');
    const local = new PouchDB(path.join(work, 'local'));
    const docs = fs
      .readFileSync(docsFile, 'utf8')
      .split('\n')
      .filter((l) => l.length > 0)
      .map((l) => JSON.parse(l));
    for (let i = 0; i < docs.length; i += 500) {
      await local.bulkDocs(docs.slice(i, i + 500));
    }
    const remote = new PouchDB(`http://127.0.0.1:${port}/backlog`);
    const start = process.hrtime.bigint();
    const result = await local.replicate.to(remote, { batch_size: 500 });
    const ms = Number(process.hrtime.bigint() - start) / 1e6;
    const info = await remote.info();
    if (info.doc_count !== docs.length) {
      throw new Error(`the server holds ${info.doc_count} documents, not ${docs.length}`);
    }
    process.stdout.write(JSON.stringify({ docs: result.docs_written, ms }) + '\n');
    await local.close();
  } finally {
    server.kill();
  }
}

if (process.argv[2] === '--serve') {
  serve(process.argv[3]);
} else {
  main(process.argv[2], process.argv[3]).catch((e) => {
    process.stderr.write(`${e.stack || e}\n`);
    process.exit(1);
  });
}
