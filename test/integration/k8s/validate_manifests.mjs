// Validate mf_ext's deployment manifests against the real schemas, in one run
// (loading the validators and compiling the KServe schema takes seconds):
//   node validate_manifests.mjs KSERVE_SCHEMA.json IOT_SCHEMA.json SPEC...
// where each SPEC is
//   k8s:FILE.yaml:OUT.json   every document of the multi-document YAML, by kind:
//       Deployment (apps/v1), Service (v1), HorizontalPodAutoscaler
//       (autoscaling/v2) through kubernetes-models' validate();
//       InferenceService (serving.kserve.io/v1beta1) through ajv on the CRD's
//       openAPIV3Schema; the documents as js-yaml reads them back (YAML 1.2
//       core schema) are written to OUT.json for the shell's checks;
//   k8s-invalid:FILE.yaml    the same, but some document must be refused;
//   iot:FILE.json            the IoT Edge manifest through ajv, and every
//       createOptions (joined with its createOptions01... parts) must be a
//       JSON object;
//   iot-invalid:FILE.json    the same, but it must be refused.
// Prints one line per manifest; exit 1 when any result is not the expected one.
import fs from "node:fs";
import yaml from "js-yaml";
import Ajv from "ajv";
import { Deployment } from "kubernetes-models/apps/v1/Deployment";
import { Service } from "kubernetes-models/v1/Service";
import { HorizontalPodAutoscaler } from "kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler";

const [kserveFile, iotFile, ...specs] = process.argv.slice(2);
const ajv = new Ajv({ strict: false, validateFormats: false, allErrors: true });
const kserve = ajv.compile(JSON.parse(fs.readFileSync(kserveFile, "utf8")).schema);
const iot = ajv.compile(JSON.parse(fs.readFileSync(iotFile, "utf8")));
const models = { "apps/v1/Deployment": Deployment, "v1/Service": Service,
                 "autoscaling/v2/HorizontalPodAutoscaler": HorizontalPodAutoscaler };
let failed = false;

// The problem of a validated document, or null.
function ajvProblem(validate, doc) {
  return validate(doc) ? null : ajv.errorsText(validate.errors, { separator: "; " }).slice(0, 2000);
}

// The problems of a multi-document YAML file, and its documents.
function checkK8s(file) {
  const docs = yaml.loadAll(fs.readFileSync(file, "utf8"));
  const lines = [];
  let problem = null;
  for (const d of docs) {
    const key = `${d?.apiVersion}/${d?.kind}`;
    let p = null;
    if (models[key]) {
      try { new models[key](d).validate(); } catch (e) { p = e.message.slice(0, 2000); }
    } else if (key === "serving.kserve.io/v1beta1/InferenceService") p = ajvProblem(kserve, d);
    else p = "unexpected document";
    lines.push(`${key} ${d?.metadata?.name}: ${p ?? "valid"}`);
    problem ??= p && `${key}: ${p}`;
  }
  return { docs, lines, problem };
}

// The problem of an IoT Edge manifest, or null.
function checkIot(file) {
  const m = JSON.parse(fs.readFileSync(file, "utf8"));
  const p = ajvProblem(iot, m);
  if (p) return p;
  const agent = m.modulesContent.$edgeAgent["properties.desired"];
  for (const [name, mod] of Object.entries({ ...agent.systemModules, ...agent.modules })) {
    const s = mod.settings;
    const parts = Object.keys(s).filter((k) => /^createOptions[0-9]{2}$/.test(k)).sort();
    let o;
    try { o = JSON.parse((s.createOptions ?? "{}") + parts.map((k) => s[k]).join("")); }
    catch (e) { return `module ${name}: createOptions is not JSON: ${e.message}`; }
    if (typeof o !== "object" || o === null || Array.isArray(o)) return `module ${name}: createOptions is not an object`;
  }
  return null;
}

for (const spec of specs) {
  const [mode, file, out] = spec.split(":");
  const want = !mode.endsWith("-invalid");
  let problem;
  if (mode.startsWith("k8s")) {
    const r = checkK8s(file);
    problem = r.problem;
    if (out) fs.writeFileSync(out, JSON.stringify(r.docs));
    if (want) r.lines.forEach((l) => console.log(`  ${l}`));
  } else problem = checkIot(file);
  const ok = want === (problem === null);
  failed ||= !ok;
  console.log(`${ok ? "as expected" : "UNEXPECTED"}: ${file} ${problem === null ? "valid" : `refused (${problem.slice(0, 300)})`}`);
}
process.exit(failed ? 1 : 0);
