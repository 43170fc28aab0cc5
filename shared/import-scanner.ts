/** One module reference in a source file. */
export type ImportReference = { line: number; specifier: string };

/**
 * The specifier of a module load whose argument is not a literal string (`import(path)`), and of
 * a `require` or `createRequire` that is not called with one (`const load = require`).
 */
export const COMPUTED_SPECIFIER = "(computed)";

type Token =
  | { kind: "word"; value: string; line: number }
  | { kind: "punct"; value: string; line: number }
  | { kind: "string"; value: string; line: number; static: boolean };

/**
 * Every module a TypeScript/JavaScript source refers to: `import` (incl. `import type`),
 * `export … from`, side-effect `import "x"`, dynamic `import("x")`, `require("x")`,
 * `import x = require("x")`, `import.meta.resolve("x")`, `new Worker("x")` and
 * `new URL("x", import.meta.url)`. Works on tokens, so comments and ordinary strings that happen
 * to contain `from "x"` are not mistaken for references.
 */
export function scanImports(source: string): ImportReference[] {
  const tokens = tokenize(source);
  const references: ImportReference[] = [];
  const is = (index: number, kind: Token["kind"], value?: string) => {
    const token = tokens[index];
    return token?.kind === kind && (value === undefined || token.value === value);
  };
  const computed = (line: number) => references.push({ line, specifier: COMPUTED_SPECIFIER });

  tokens.forEach((token, index) => {
    if (token.kind === "word") {
      // Not called on the spot (`const load = require`, `require?.(…)`), it can load anything.
      if (
        token.value === "createRequire" ||
        (token.value === "require" && !is(index + 1, "punct", "("))
      )
        computed(token.line);
      return;
    }
    if (token.kind === "punct" && token.value === "(") {
      const loader = loaderCalled(index);
      if (!loader) return;
      const argument = tokens[index + 1];
      const literal =
        argument?.kind === "string" &&
        argument.static &&
        (is(index + 2, "punct", ")") || is(index + 2, "punct", ","));
      if (literal) references.push({ line: argument.line, specifier: argument.value });
      // `new Worker(new URL("x", import.meta.url))`: the URL is the reference.
      else if (
        !(loader === "worker" && is(index + 1, "word", "new") && is(index + 2, "word", "URL"))
      )
        computed(tokens[index - 1]?.line ?? token.line);
      return;
    }
    if (token.kind !== "string" || !token.static) return;
    if (is(index - 1, "word", "from") || is(index - 1, "word", "import"))
      references.push({ line: token.line, specifier: token.value });
  });
  return references;

  /** What the call opening at `open` loads, if it loads a module. */
  function loaderCalled(open: number): "module" | "worker" | undefined {
    const callee = tokens[open - 1];
    if (callee?.kind !== "word") return;
    if (callee.value === "import" || callee.value === "require") return "module";
    if (callee.value === "resolve" && is(open - 2, "punct", ".") && is(open - 3, "word", "meta"))
      return "module";
    if (!is(open - 2, "word", "new")) return;
    if (callee.value === "Worker") return "worker";
    // A URL is a module's only when resolved against the file: `new URL("x", import.meta.url)`.
    if (callee.value === "URL" && argumentsOf(open).endsWith(",import.meta.url")) return "module";
  }

  /** The tokens of the call opening at `open`, up to its closing parenthesis, joined. */
  function argumentsOf(open: number): string {
    let depth = 0;
    let text = "";
    for (const token of tokens.slice(open)) {
      if (token.kind === "punct" && token.value === "(") depth++;
      if (token.kind === "punct" && token.value === ")") depth--;
      if (depth === 0) return text;
      if (token !== tokens[open]) text += token.kind === "string" ? "''" : token.value;
    }
    return text;
  }
}

const WORD = /[\w$]/;
const REGEX_MAY_FOLLOW = new Set([
  "return",
  "typeof",
  "case",
  "do",
  "else",
  "in",
  "of",
  "new",
  "void",
  "yield",
  "await",
  "delete",
  "throw",
]);

const CONDITIONS = new Set(["if", "while", "for"]);

function tokenize(source: string): Token[] {
  const tokens: Token[] = [];
  let line = 1;
  let i = 0;
  const at = (offset = 0) => source[i + offset] ?? "";

  function skipTo(end: string) {
    const stop = source.indexOf(end, i);
    const until = stop === -1 ? source.length : stop + end.length;
    line += countNewlines(source.slice(i, until));
    i = until;
  }

  /** For each open parenthesis, whether it holds the condition of an `if`, `while` or `for`. */
  const conditions: boolean[] = [];
  /** The last parenthesis closed a condition: `if (ok) /x/.test(s)` starts a regex. */
  let conditionClosed = false;

  function regexMayStart(): boolean {
    const last = tokens.at(-1);
    if (!last) return true;
    if (last.kind === "string") return false;
    if (last.kind === "word") return REGEX_MAY_FOLLOW.has(last.value);
    if (last.value === ")") return conditionClosed;
    return !"]}".includes(last.value);
  }

  function punctuation(char: string) {
    if (char === "(") {
      const before = tokens.at(-1);
      conditions.push(before?.kind === "word" && CONDITIONS.has(before.value));
    } else if (char === ")") {
      conditionClosed = conditions.pop() ?? false;
    }
    tokens.push({ kind: "punct", value: char, line });
  }

  while (i < source.length) {
    const char = at();
    if (char === "\n") {
      line++;
      i++;
    } else if (/\s/.test(char)) {
      i++;
    } else if (char === "/" && at(1) === "/") {
      const end = source.indexOf("\n", i);
      i = end === -1 ? source.length : end;
    } else if (char === "/" && at(1) === "*") {
      i += 2;
      skipTo("*/");
    } else if (char === "'" || char === '"') {
      const start = line;
      const value = readQuoted(char);
      tokens.push({ kind: "string", value, line: start, static: true });
    } else if (char === "`") {
      const start = line;
      const { value, isStatic } = readTemplate();
      tokens.push({ kind: "string", value, line: start, static: isStatic });
    } else if (char === "/" && regexMayStart()) {
      readRegex();
      tokens.push({ kind: "punct", value: "regex", line });
    } else if (WORD.test(char)) {
      let word = "";
      while (i < source.length && WORD.test(at())) word += source[i++];
      tokens.push({ kind: "word", value: word, line });
    } else {
      punctuation(char);
      i++;
    }
  }
  return tokens;

  function readQuoted(quote: string): string {
    let value = "";
    i++;
    while (i < source.length && at() !== quote && at() !== "\n") {
      if (at() === "\\") value += readEscape();
      else value += source[i++];
    }
    i++;
    return value;
  }

  /** The character an escape stands for: `\u0073` is an `s` in a specifier too. */
  function readEscape(): string {
    const hex = /^(?:u\{([0-9a-fA-F]+)\}|u([0-9a-fA-F]{4})|x([0-9a-fA-F]{2}))/.exec(
      source.slice(i + 1, i + 12),
    );
    if (!hex) {
      const escaped = at(1);
      i += 2;
      return escaped;
    }
    i += 1 + hex[0].length;
    return String.fromCodePoint(Number.parseInt(hex[1] ?? hex[2] ?? hex[3] ?? "0", 16));
  }

  function readTemplate(): { value: string; isStatic: boolean } {
    let value = "";
    let isStatic = true;
    i++;
    while (i < source.length && at() !== "`") {
      if (at() === "\\") {
        value += readEscape();
      } else if (at() === "$" && at(1) === "{") {
        isStatic = false;
        let depth = 0;
        do {
          if (at() === "{") depth++;
          else if (at() === "}") depth--;
          else if (at() === "\n") line++;
          i++;
        } while (i < source.length && depth > 0);
      } else {
        if (at() === "\n") line++;
        value += source[i++];
      }
    }
    i++;
    return { value, isStatic };
  }

  function readRegex() {
    let inClass = false;
    i++;
    while (i < source.length && at() !== "\n") {
      const char = at();
      if (char === "\\") i++;
      else if (char === "[") inClass = true;
      else if (char === "]") inClass = false;
      else if (char === "/" && !inClass) break;
      i++;
    }
    i++;
    while (WORD.test(at())) i++;
  }
}

function countNewlines(text: string): number {
  let count = 0;
  for (const char of text) if (char === "\n") count++;
  return count;
}
