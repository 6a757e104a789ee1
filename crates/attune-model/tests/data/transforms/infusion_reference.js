// Runs Infusion's own model transformations over a batch of jobs, so that Attune's transformer
// can be compared with the original. Used by tests/transforms.rs when GPII_UNIVERSAL_DIR is set
// and Node is available; nothing here is shipped.
//
// Usage: node infusion_reference.js <gpii-universal dir> < jobs.json
// jobs.json: [{"rules": {...}, "input": {...}}, ...]
// Prints (as its last line) [{"out": ..., "paths": [...]} | {"error": "..."}, ...].
"use strict";

var path = require("path");
var dir = process.argv[2];
var fluid = require(require.resolve("infusion", {paths: [dir]}));
require(path.join(dir, "gpii/node_modules/transformer/src/js/Transformer.js"));
// Keep Infusion's failure logging off stdout, which carries the answer.
fluid.setLogging(false);

var jobs = JSON.parse(require("fs").readFileSync(0, "utf8"));
var answers = jobs.map(function (job) {
    try {
        return {
            out: fluid.model.transformWithRules(job.input, job.rules),
            paths: fluid.model.transform.collectInputPaths(job.rules)
        };
    } catch (e) {
        return {error: String(e && e.message || e).slice(0, 300)};
    }
});
process.stdout.write("\n" + JSON.stringify(answers) + "\n");
