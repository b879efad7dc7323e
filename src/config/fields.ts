// The fields of the configuration, read from the schema's JSON Schema (zod's public
// toJSONSchema): their types (for strings from variables and --set), descriptions, the maps
// (records) whose keys are data, and the known names (for "did you mean").
import { z } from 'zod';
import { ConfigSchema } from './schema.js';

export interface Field {
  /** JSON types the field accepts: string, number, integer, boolean, array, object, null. */
  types: Set<string>;
  description: string;
  /** A map whose keys are data (e.g. containerd.registryMirrors), not fields. */
  map: boolean;
  /** Names of the fields inside, for an object of fields. */
  children: string[] | undefined;
}

interface JsonSchema {
  type?: string | string[];
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  const?: unknown;
  properties?: Record<string, JsonSchema>;
  additionalProperties?: JsonSchema | boolean;
  description?: string;
}

let root: JsonSchema | undefined;
function rootSchema(): JsonSchema {
  root ??= z.toJSONSchema(ConfigSchema, { io: 'input', unrepresentable: 'any' }) as JsonSchema;
  return root;
}

function typesOf(schema: JsonSchema): Set<string> {
  const out = new Set<string>();
  const visit = (s: JsonSchema) => {
    if (typeof s.type === 'string') out.add(s.type);
    else if (Array.isArray(s.type)) for (const t of s.type) out.add(t);
    else if (s.const !== undefined) out.add(s.const === null ? 'null' : typeof s.const);
    for (const alt of [...(s.anyOf ?? []), ...(s.oneOf ?? [])]) visit(alt);
  };
  visit(schema);
  return out;
}

function toField(schema: JsonSchema): Field {
  const isObject = typesOf(schema).has('object');
  return {
    types: typesOf(schema),
    description: schema.description ?? '',
    map: isObject && schema.properties === undefined,
    children: schema.properties ? Object.keys(schema.properties) : undefined,
  };
}

/** The field at path ([] is the whole config), or undefined if there is no such field. */
export function fieldAt(path: readonly string[]): Field | undefined {
  let schema = rootSchema();
  for (const key of path) {
    const next = schema.properties?.[key];
    if (!next) return undefined;
    schema = next;
  }
  return toField(schema);
}

/** Every leaf field (what a variable or --set can set), in schema order. */
export function leafFields(): { path: string[]; field: Field }[] {
  const out: { path: string[]; field: Field }[] = [];
  const walk = (schema: JsonSchema, path: string[]) => {
    if (schema.properties && path.length >= 0 && typesOf(schema).has('object')) {
      for (const [key, child] of Object.entries(schema.properties)) walk(child, [...path, key]);
      return;
    }
    out.push({ path, field: toField(schema) });
  };
  walk(rootSchema(), []);
  return out;
}
