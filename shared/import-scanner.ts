/** One module reference in a source file. */
export type ImportReference = { line: number; specifier: string };

/** The specifier of an `import(…)` or `require(…)` whose argument is not a literal string. */
export const COMPUTED_SPECIFIER = "(computed)";

type Token =
  | { kind: "word"; value: string; line: number }
  | { kind: "punct"; value: string; line: number }
  | { kind: "string"; value: string; line: number; static: boolean };

/**
 * Every module a TypeScript/JavaScript source refers to: `import` (incl. `import type`),
 * `export … from`, side-effect `import "x"`, dynamic `import("x")`, `require("x")` and
 * `import x = require("x")`. Works on tokens, so comments and ordinary strings that happen to
 * contain `from "x"` are not mistaken for references.
 */
export function scanImports(source: string): ImportReference[] {
  const tokens = tokenize(source);
  const references: ImportReference[] = [];
  tokens.forEach((token, index) => {
    if (token.kind === "word" && (token.value === "import" || token.value === "require")) {
      const [open, argument, close] = tokens.slice(index + 1, index + 4);
      const literal =
        argument?.kind === "string" &&
        argument.static &&
        close?.kind === "punct" &&
        (close.value === ")" || close.value === ",");
      if (open?.kind === "punct" && open.value === "(" && !literal)
        references.push({ line: token.line, specifier: COMPUTED_SPECIFIER });
      return;
    }
    if (token.kind !== "string" || !token.static) return;
    const previous = tokens[index - 1];
    const beforePrevious = tokens[index - 2];
    const isFrom = previous?.kind === "word" && previous.value === "from";
    const isBareImport = previous?.kind === "word" && previous.value === "import";
    const isCall =
      previous?.kind === "punct" &&
      previous.value === "(" &&
      beforePrevious?.kind === "word" &&
      (beforePrevious.value === "import" || beforePrevious.value === "require");
    if (isFrom || isBareImport || isCall)
      references.push({ line: token.line, specifier: token.value });
  });
  return references;
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

  function regexMayStart(): boolean {
    const last = tokens.at(-1);
    if (!last) return true;
    if (last.kind === "string") return false;
    if (last.kind === "word") return REGEX_MAY_FOLLOW.has(last.value);
    return !")]}".includes(last.value);
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
      tokens.push({ kind: "punct", value: char, line });
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
