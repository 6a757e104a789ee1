// Attune test support: a CouchDB-API server on loopback for running GPII's cloud as a test peer
// (see shared GPII-INTEROP notes). express-pouchdb over an in-memory PouchDB, database `gpii`
// loaded from GPII's own data files given on the command line. Prints "READY <port>" when loaded.
// Usage: node couch.js <data.json>...   (each file: an array of documents)
"use strict";
const fs = require("fs");
const http = require("http");
const express = require("express");
const PouchDB = require("pouchdb-core")
    .plugin(require("pouchdb-adapter-memory"))
    .plugin(require("pouchdb-adapter-http"))
    .plugin(require("pouchdb-mapreduce"))
    .plugin(require("pouchdb-replication"));
const MemPouch = PouchDB.defaults({ adapter: "memory" });

async function main() {
    const app = express();
    app.use("/", require("express-pouchdb")(MemPouch, { mode: "minimumForPouchDB" }));
    const db = new MemPouch("gpii");
    for (const file of process.argv.slice(2)) {
        const docs = JSON.parse(fs.readFileSync(file, "utf8"));
        const res = await db.bulkDocs(docs);
        const failed = res.filter((r) => r.error);
        if (failed.length) {
            throw new Error(file + ": " + failed.length + " documents refused: " + JSON.stringify(failed[0]));
        }
    }
    const server = http.createServer(app).listen(0, "127.0.0.1", () => {
        console.log("READY " + server.address().port);
    });
}
main().catch((e) => { console.error(e); process.exit(1); });
