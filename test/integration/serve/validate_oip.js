// Validate recorded Open Inference Protocol answers against the protocol's
// OpenAPI file with openapi-response-validator (from npm).
//
//   node validate_oip.js NODE_MODULES_DIR SPEC.json RECORDS.jsonl
//
// Each record: {"id": "...", "op": "<path of the spec>", "method": "get",
// "status": 200, "body": <parsed JSON or null>}.  A status the operation
// declares is validated against its declared response; an error status it
// does not declare (404, 401, 405, 413, 429, 503: the protocol says every
// error answer is the operation's error object) against the operation's
// error schema.  Prints one TAP-like line per record; exits 1 when any is
// invalid.
'use strict';
const path = require('path');
const fs = require('fs');
const [modules, specFile, recordsFile] = process.argv.slice(2);
const OpenAPIResponseValidator = require(path.join(modules, 'openapi-response-validator')).default;
const spec = JSON.parse(fs.readFileSync(specFile, 'utf8'));

// The error schema of an operation (by the protocol's text).
const ERROR_SCHEMA = {
	'/v2/': 'metadata_server_error_response',
	'/v2/models/${MODEL_NAME}/versions/${MODEL_VERSION}': 'metadata_model_error_response',
	'/v2/models/${MODEL_NAME}/versions/${MODEL_VERSION}/infer': 'inference_error_response',
	'/v2/models/${MODEL_NAME}/versions/${MODEL_VERSION}/ready': 'metadata_model_error_response',
	'/v2/health/live': 'metadata_server_error_response',
	'/v2/health/ready': 'metadata_server_error_response',
};

const validators = new Map();
// A validator for the responses of an operation, error statuses added.
function validatorFor(op, method, status) {
	const key = `${op} ${method} ${status}`;
	if (validators.has(key)) return validators.get(key);
	const item = spec.paths[op];
	if (!item || !item[method]) throw new Error(`no operation ${method.toUpperCase()} ${op} in the spec`);
	let responses = item[method].responses;
	if (!responses[String(status)] && status >= 400) {
		const schema = ERROR_SCHEMA[op];
		responses = Object.assign({}, responses, {
			[String(status)]: {
				description: 'error (protocol text: the error object)',
				content: {'application/json': {schema: {$ref: `#/components/schemas/${schema}`}}},
			},
		});
	}
	const v = new OpenAPIResponseValidator({responses, components: spec.components});
	validators.set(key, v);
	return v;
}

let bad = 0, n = 0;
for (const line of fs.readFileSync(recordsFile, 'utf8').split('\n')) {
	if (!line.trim()) continue;
	const r = JSON.parse(line);
	n++;
	let err;
	try {
		err = validatorFor(r.op, r.method, r.status).validateResponse(r.status, r.body === null ? undefined : r.body);
	} catch (e) {
		err = {message: String(e)};
	}
	if (err) {
		bad++;
		console.log(`not ok - OpenAPI: ${r.id}: ${r.method.toUpperCase()} -> ${r.status}: ${JSON.stringify(err)}`);
	} else {
		console.log(`ok - OpenAPI: ${r.id}: ${r.method.toUpperCase()} ${r.status} valid against ${r.op}`);
	}
}
console.log(`# ${n} answers validated, ${bad} invalid`);
process.exit(bad || n === 0 ? 1 : 0);
