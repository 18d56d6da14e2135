// Fails when src/ (outside src/storage/migrations) holds hand-written query text: every query
// is built with Kysely from the typed schema, so a wrong column fails tsc (issue 15).
import { readdirSync, readFileSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import ts from "typescript";

// The tree to check: this checkout, or the one named on the command line (the checker's test).
const root = resolve(process.argv[2] ?? join(import.meta.dirname, ".."));
const EXEMPT = join(root, "src/storage/migrations");

// Query text in any literal: a SELECT with FROM or a value list, INSERT/REPLACE INTO,
// UPDATE ... SET, DELETE FROM, an ON CONFLICT clause, or a WITH ... AS ( common table expression.
const QUERY =
  /\bselect\s+(?:distinct\s+)?[\s\S]*?\bfrom\b|\bselect\s+(?:\d|\*|'|\$|\?|[a-z_][\w.]*\s*\()|\b(?:insert|replace)\s+(?:or\s+\w+\s+)?into\b|\bupdate\s+(?:only\s+)?[\w."]+\s+(?:as\s+)?(?:\w+\s+)?set\b|\bdelete\s+from\b|\bon\s+conflict\b|\bdo\s+update\s+set\b|\bwith\s+(?:recursive\s+)?[\w"]+\s*(?:\([^)]*\)\s*)?as\s*\(/i;
// Inside Kysely's sql`` tag anything of a statement is query text, whatever surrounds it.
const SQL_WORD = /\b(?:select|insert|update|delete|merge|returning|upsert|replace\s+into)\b/i;
// What may reach a driver as literal text: transaction and session control, never a query.
const CONTROL =
  /^\s*(?:begin(?:\s+(?:immediate|deferred|exclusive|transaction))?|commit|rollback|savepoint\s+\w+|release\s+(?:savepoint\s+)?\w+|(?:un)?listen\s+\w+|set\s+(?:local\s+)?\w+\s*(?:=|to)\s*\w+)\s*$/i;
// Driver calls that run text; `exec` too, but only on a database handle (RegExp#exec is fine).
const SINKS = new Set(["prepare", "query", "exec", "execute", "unsafe"]);
// Where a variable may reach a driver call: the runners of Kysely-compiled text.
const RUNNERS = new Set(["src/storage/sqlite-dialect.ts"]);

const problems: string[] = [];

function walk(dir: string): void {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (path === EXEMPT) continue;
    if (entry.isDirectory()) walk(path);
    else if (/\.(?:ts|tsx|mts|cts|js|mjs)$/.test(entry.name)) check(path);
  }
}

/** The literal text of an expression, folding `+` chains and `[...].join(sep)` of literals. */
function literalText(node: ts.Node): string | undefined {
  if (ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node)) return node.text;
  if (ts.isTemplateExpression(node)) {
    return node.head.text + node.templateSpans.map((s) => ` x ${s.literal.text}`).join("");
  }
  if (ts.isParenthesizedExpression(node)) return literalText(node.expression);
  if (ts.isBinaryExpression(node) && node.operatorToken.kind === ts.SyntaxKind.PlusToken) {
    const left = literalText(node.left);
    const right = literalText(node.right);
    if (left !== undefined || right !== undefined) return `${left ?? " x "}${right ?? " x "}`;
  }
  if (
    ts.isCallExpression(node) &&
    ts.isPropertyAccessExpression(node.expression) &&
    node.expression.name.text === "join" &&
    ts.isArrayLiteralExpression(node.expression.expression)
  ) {
    const sep = node.arguments[0] === undefined ? "," : (literalText(node.arguments[0]) ?? " ");
    return node.expression.expression.elements.map((e) => literalText(e) ?? " x ").join(sep);
  }
  return undefined;
}

function check(file: string): void {
  const name = relative(root, file);
  const source = ts.createSourceFile(
    file,
    readFileSync(file, "utf8"),
    ts.ScriptTarget.Latest,
    true,
  );
  // `sql` under any local name it is imported as from kysely.
  const sqlTags = new Set<string>();
  const where = (node: ts.Node) =>
    `${name}:${source.getLineAndCharacterOfPosition(node.getStart(source)).line + 1}`;

  function visit(node: ts.Node): void {
    if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
      const bindings = node.importClause?.namedBindings;
      if (node.moduleSpecifier.text === "kysely" && bindings !== undefined) {
        if (ts.isNamedImports(bindings)) {
          for (const e of bindings.elements) {
            if ((e.propertyName ?? e.name).text === "sql") sqlTags.add(e.name.text);
          }
        } else sqlTags.add(`${bindings.name.text}.sql`);
      }
      return;
    }
    if (ts.isTaggedTemplateExpression(node) && sqlTags.has(tagName(node.tag))) {
      const text = literalText(node.template) ?? "";
      if (SQL_WORD.test(text)) problems.push(`${where(node)}: query text in a sql\`\` template`);
      for (const span of ts.isTemplateExpression(node.template)
        ? node.template.templateSpans
        : []) {
        visit(span.expression);
      }
      return;
    }
    if (ts.isCallExpression(node)) checkCall(node);
    const text = literalText(node);
    if (text !== undefined) {
      if (QUERY.test(text)) problems.push(`${where(node)}: query text in a literal`);
      // A folded expression is judged whole; its parts need no second look.
      if (!ts.isTemplateExpression(node)) return;
    }
    ts.forEachChild(node, visit);
  }

  function checkCall(node: ts.CallExpression): void {
    const callee = node.expression;
    const calleeName = tagName(callee);
    // Kysely's escape hatches for text: no hand-written statement may enter through them.
    if ([...sqlTags].some((t) => calleeName === `${t}.raw`) || calleeName === "CompiledQuery.raw") {
      problems.push(`${where(node)}: ${calleeName}() runs hand-written text`);
      return;
    }
    if (!ts.isPropertyAccessExpression(callee) || !SINKS.has(callee.name.text)) return;
    const receiver = callee.expression.getText(source);
    const arg = node.arguments[0];
    if (arg === undefined) return;
    const text = literalText(arg);
    if (text !== undefined) {
      if (!CONTROL.test(text)) {
        // RegExp#exec on a literal is not a query; a handle's exec or any prepare/query is.
        if (
          callee.name.text !== "exec" ||
          /(?:^|\.)(?:raw|db|database|client|pool)$/.test(receiver)
        ) {
          problems.push(
            `${where(node)}: ${callee.name.text}() of text that is not transaction control`,
          );
        }
      }
      return;
    }
    if (callee.name.text === "exec" && !/(?:^|\.)(?:raw|db|database|client|pool)$/.test(receiver)) {
      return;
    }
    if (callee.name.text === "execute") return; // Kysely's own builders and sql`` execute
    if (compiledText(arg) || RUNNERS.has(name) || controlConstant(arg)) return;
    problems.push(
      `${where(node)}: ${callee.name.text}() of text not compiled by Kysely (use compileStatement)`,
    );
  }

  function controlConstant(arg: ts.Expression): boolean {
    if (!ts.isIdentifier(arg)) return false;
    const text = controlConstants.get(arg.text);
    return text !== undefined && CONTROL.test(text);
  }

  visit(source);
}

/** `x.sql`, or a pg query config whose `text` is `x.sql`: text Kysely compiled. */
function compiledText(arg: ts.Expression): boolean {
  if (ts.isPropertyAccessExpression(arg)) return arg.name.text === "sql";
  if (!ts.isObjectLiteralExpression(arg)) return false;
  const text = arg.properties.find(
    (p): p is ts.PropertyAssignment =>
      ts.isPropertyAssignment(p) && ts.isIdentifier(p.name) && p.name.text === "text",
  );
  return text !== undefined && compiledText(text.initializer);
}

function tagName(node: ts.Node): string {
  if (ts.isIdentifier(node)) return node.text;
  if (ts.isPropertyAccessExpression(node)) return `${tagName(node.expression)}.${node.name.text}`;
  return "";
}

// Exported string constants of src/ by name (e.g. PLAN_EVERY_RUN), for control text passed
// by name: only ones that are themselves control text are let through.
const controlConstants = new Map<string, string>();
function collectConstants(dir: string): void {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) collectConstants(path);
    else if (entry.name.endsWith(".ts")) {
      const source = ts.createSourceFile(path, readFileSync(path, "utf8"), ts.ScriptTarget.Latest);
      for (const statement of source.statements) {
        if (!ts.isVariableStatement(statement)) continue;
        for (const d of statement.declarationList.declarations) {
          const text = d.initializer === undefined ? undefined : literalText(d.initializer);
          if (ts.isIdentifier(d.name) && text !== undefined)
            controlConstants.set(d.name.text, text);
        }
      }
    }
  }
}

collectConstants(join(root, "src"));
walk(join(root, "src"));
if (problems.length > 0) {
  console.error(problems.join("\n"));
  console.error(
    "query text belongs in Kysely's builder (src/storage/compiled-statement.ts for hot paths) or in a migration",
  );
  process.exit(1);
}
console.log("no hand-written query text in src/ outside migrations");
