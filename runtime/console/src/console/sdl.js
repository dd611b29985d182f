// An action's SDL (`type Mutation { name(args): Output }`) to and from the `type`, `arguments`
// and `output_type` of its definition, as Hasura's console edits actions. graphql-js parses;
// the server validates what is sent.
import { Kind, parse, print } from "graphql";

const ROOTS = { mutation: "Mutation", query: "Query" };

function quoted(description) {
  return description ? `"""${description.replace(/"""/g, '\\"""')}""" ` : "";
}

export function actionSdl(name, definition) {
  const root = ROOTS[definition.type ?? "mutation"] ?? "Mutation";
  const args = (definition.arguments ?? [])
    .map((arg) => `${quoted(arg.description)}${arg.name}: ${arg.type}`)
    .join(", ");
  return `type ${root} {\n  ${name}${args ? `(${args})` : ""}: ${definition.output_type}\n}\n`;
}

/** The SDL's operation, arguments and output type; throws a message for anything else. */
export function parseActionSdl(text, name) {
  let document;
  try {
    document = parse(text);
  } catch (error) {
    throw new Error(`SDL does not parse: ${error.message}`);
  }
  const roots = document.definitions.filter(
    (d) =>
      (d.kind === Kind.OBJECT_TYPE_DEFINITION || d.kind === Kind.OBJECT_TYPE_EXTENSION) &&
      (d.name.value === "Mutation" || d.name.value === "Query"),
  );
  const fields = roots.flatMap((root) => (root.fields ?? []).map((field) => ({ root, field })));
  if (fields.length !== 1 || document.definitions.length !== 1) {
    throw new Error("the SDL must be one `type Mutation` or `type Query` with the action as its one field");
  }
  const [{ root, field }] = fields;
  if (field.name.value !== name) {
    throw new Error(`the field must keep the action's name \`${name}\` (drop and create to rename)`);
  }
  return {
    type: root.name.value === "Query" ? "query" : "mutation",
    arguments: (field.arguments ?? []).map((arg) => ({
      name: arg.name.value,
      type: print(arg.type),
      ...(arg.description ? { description: arg.description.value } : {}),
    })),
    output_type: print(field.type),
  };
}

/** The custom types an action names (its output, its arguments' input objects, transitively). */
export function typesSdl(definition, customTypes = {}) {
  const byName = new Map();
  for (const [kind, list] of Object.entries(customTypes)) {
    for (const type of list ?? []) byName.set(type.name, { kind, type });
  }
  const innermost = (expression) => expression.replace(/[[\]!\s]/g, "");
  const seen = new Set();
  const pending = [innermost(definition.output_type ?? ""), ...(definition.arguments ?? []).map((a) => innermost(a.type))];
  const printed = [];
  while (pending.length) {
    const name = pending.shift();
    if (seen.has(name) || !byName.has(name)) continue;
    seen.add(name);
    const { kind, type } = byName.get(name);
    if (kind === "scalars") {
      printed.push(`scalar ${name}`);
    } else if (kind === "enums") {
      printed.push(`enum ${name} {\n${(type.values ?? []).map((v) => `  ${v.value}`).join("\n")}\n}`);
    } else {
      const keyword = kind === "input_objects" ? "input" : "type";
      const fields = type.fields ?? [];
      for (const field of fields) pending.push(innermost(field.type));
      printed.push(`${keyword} ${name} {\n${fields.map((f) => `  ${f.name}: ${f.type}`).join("\n")}\n}`);
    }
  }
  return printed.join("\n\n");
}
