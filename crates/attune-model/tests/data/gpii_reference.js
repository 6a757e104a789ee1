// Runs GPII's own flat matchmaker (from an installed gpii-universal package) over every
// preference file of its testData, for the devices given, so tests/gpii_files.rs can compare
// Attune's matchmaker with it. Attune's code: it only calls the package's public functions.
//
// node gpii_reference.js <gpii-universal dir> <registry.json5> <devices.json> <out.json> [<prefs dir>]
// devices.json: {"<device name>": {"OS": {"id": "linux"}, "solutions": [{"id": …}]}, …}
// out.json: {"<file>": {"<device name>": {"preferences", "matchMakerOutput", "lifecycle"} | {"error"}}}
"use strict";
var fs = require("fs");
var path = require("path");
var universal = path.resolve(process.argv[2]);
var load = function (name) {
    return require(require.resolve(name, {paths: [universal]}));
};
var fluid = load("infusion");
var JSON5 = load("json5");
fluid.setLogging(false);
require(universal);
var gpii = fluid.registerNamespace("gpii");

var registry = JSON5.parse(fs.readFileSync(process.argv[3], "utf8"));
var devices = JSON.parse(fs.readFileSync(process.argv[4], "utf8"));
var ontology = gpii.ontologyHandler();
var matchMaker = gpii.flatMatchMaker();
var prefsDir = process.argv[6] || path.join(universal, "testData/preferences");
var out = {};

fs.readdirSync(prefsDir).filter(function (f) { return f.endsWith(".json5"); }).sort().forEach(function (file) {
    out[file] = {};
    var doc;
    try {
        doc = JSON5.parse(fs.readFileSync(path.join(prefsDir, file), "utf8"));
    } catch (e) {
        out[file].error = "parse: " + e.message;
        return;
    }
    fluid.each(devices, function (device, deviceName) {
        try {
            // As the preferences server hands a set to the cloud flow manager.
            var prefs = ontology.rawPrefsToOntology({flat: doc.flat}, "flat");
            var entries = gpii.matchMakerFramework.filterSolutions(registry, device);
            var input = gpii.matchMakerFramework.utils.preProcess({
                gpiiKey: file, preferences: prefs, deviceContext: device,
                solutionsRegistryEntries: entries, fullSolutionsRegistry: {linux: registry}
            });
            var output = matchMaker.match(input);
            var filtered = gpii.matchMakerFramework.utils.filterPreferencesFromInferredConfig(prefs, output.inferredConfiguration);
            var defaults = output.inferredConfiguration["gpii-default"];
            out[file][deviceName] = {
                preferences: filtered,
                matchMakerOutput: output,
                lifecycle: defaults ? gpii.transformer.configurationToSettings(defaults, entries) : {}
            };
        } catch (e) {
            out[file][deviceName] = {error: String(e && e.message || e)};
        }
    });
});
fs.writeFileSync(process.argv[5], JSON.stringify(out));
