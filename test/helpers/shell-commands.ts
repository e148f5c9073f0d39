/**
 * The external commands a bash script calls by name: the first word of every simple command
 * (after `;`, `&&`, `||`, `|`, `&`, a newline, `then`, `do`, `!`, `(`, `{`, inside `$(...)`,
 * backticks and `<(...)`), past assignments and wrappers that run their argument (`exec`, `env`,
 * `xargs`, `timeout`, `setsid`, `nohup`, `sudo`). Words that start with `$` (a command the script
 * built or installed into a path it knows) and functions the script defines are not names; heredoc
 * bodies, comments, `case` patterns and `[[ ]]`/`(( ))` tests are not code. Code inside quoted
 * strings given to another interpreter (`sh -c '...'`, `trap '...'`, `buildah run ... sh -c`) is not
 * read: those commands run inside images or are the script's own.
 */

const KEYWORDS = new Set(['if', 'then', 'elif', 'else', 'fi', 'while', 'until', 'do', 'done', 'case', 'esac', 'in', 'for', 'select', 'function', 'time', '!', '{', '}', '[[', ']]']);
const BUILTINS = new Set([
  '.', ':', '[', 'alias', 'bg', 'bind', 'break', 'builtin', 'caller', 'cd', 'command', 'compgen', 'complete', 'continue', 'declare', 'dirs', 'disown',
  'echo', 'enable', 'eval', 'exec', 'exit', 'export', 'false', 'fc', 'fg', 'getopts', 'hash', 'help', 'history', 'jobs', 'kill', 'let', 'local',
  'logout', 'mapfile', 'popd', 'printf', 'pushd', 'pwd', 'read', 'readarray', 'readonly', 'return', 'set', 'shift', 'shopt', 'source', 'suspend',
  'test', 'times', 'trap', 'true', 'type', 'typeset', 'ulimit', 'umask', 'unalias', 'unset', 'wait',
]);
/** Commands that run the command named by their first non-option argument. */
const WRAPPERS = new Set(['exec', 'env', 'xargs', 'timeout', 'setsid', 'nohup', 'sudo', 'time', 'command']);
const ASSIGNMENT = /^[A-Za-z_][A-Za-z0-9_]*(\[[^\]]*\])?\+?=/;

type Token = { kind: 'word'; text: string } | { kind: 'op'; text: string };

/** Every external command name `script` calls, as the header describes. */
export function commandsOf(script: string): Set<string> {
  const found = new Set<string>();
  const functions = new Set([...script.matchAll(/^\s*(?:function\s+)?([\w.:-]+)\s*\(\)/gm)].map((m) => m[1] as string));
  scan(withoutHeredocBodies(script), found);
  for (const name of functions) found.delete(name);
  return found;
}

/** Heredoc bodies are data (JavaScript given to `node -`, files written out), not shell. */
function withoutHeredocBodies(script: string): string {
  const lines = script.split('\n');
  const kept: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] as string;
    kept.push(line);
    const heredoc = /<<(-?)\s*(['"]?)([A-Za-z_][\w]*)\2/.exec(line.replace(/<<</g, ''));
    if (heredoc === null) continue;
    const [, dash, , end] = heredoc;
    while (i + 1 < lines.length && (dash ? (lines[i + 1] as string).replace(/^\t+/, '') : lines[i + 1]) !== end) i++;
    i++;
  }
  return kept.join('\n');
}

function scan(code: string, found: Set<string>): void {
  const tokens = tokenize(code, found);
  let atCommand = true;
  let wrapped = false;
  let skipUntil: string | undefined;
  let inCasePatterns = false;
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i] as Token;
    if (skipUntil !== undefined) {
      if (token.text === skipUntil) skipUntil = undefined;
      continue;
    }
    if (token.text === '((') {
      skipUntil = '))'; // arithmetic, `(( ))` or `for ((;;))`
      continue;
    }
    if (inCasePatterns) {
      if (token.kind === 'word' && token.text === 'esac') inCasePatterns = false;
      else if (token.kind === 'op' && token.text === ')') {
        inCasePatterns = false;
        atCommand = true;
      }
      continue;
    }
    if (token.kind === 'op') {
      if (token.text === ';;' || token.text === ';&' || token.text === ';;&') inCasePatterns = true;
      if (token.text !== ')') atCommand = true;
      wrapped = false;
      continue;
    }
    const word = token.text;
    if (!atCommand) continue;
    if (word === 'case') {
      skipUntil = 'in';
      inCasePatterns = true;
      atCommand = false;
      continue;
    }
    if (word === '[[') {
      skipUntil = ']]';
      atCommand = false;
      continue;
    }
    if (word === 'for' || word === 'select' || word === 'function') {
      atCommand = false;
      continue;
    }
    if (KEYWORDS.has(word)) continue;
    if (ASSIGNMENT.test(word) || /^\d*[<>]/.test(word)) {
      // An assignment or a redirection before the command; a bare operator takes the next word.
      if (/^\d*(<|>|>>|<<<|>&|<&)$/.test(word)) i++;
      continue;
    }
    if (wrapped && word.startsWith('-')) {
      if (word === '-v' || word === '-V') atCommand = false; // `command -v x` asks, it does not run x
      continue;
    }
    if (wrapped && /^\d+[smhd]?$/.test(word)) continue; // timeout's duration
    const name = word.replace(/^['"]|['"]$/g, '');
    if (/^\$\{\w+\[@\]\}$/.test(name)) {
      wrapped = true; // a prefix held in an array, such as "${sudo[@]}" (empty when root)
      continue;
    }
    if (name.startsWith('$') || name.includes('/')) {
      atCommand = false;
      wrapped = false;
      continue;
    }
    if (WRAPPERS.has(name)) {
      wrapped = true;
      if (!BUILTINS.has(name)) found.add(name);
      continue;
    }
    if (!BUILTINS.has(name)) found.add(name);
    atCommand = false;
    wrapped = false;
  }
}

/** Words and operators; command substitutions found inside words are scanned on the spot. */
function tokenize(code: string, found: Set<string>): Token[] {
  const tokens: Token[] = [];
  let word = '';
  const flush = () => {
    if (word !== '') tokens.push({ kind: 'word', text: word });
    word = '';
  };
  for (let i = 0; i < code.length; i++) {
    const c = code[i] as string;
    if (c === '\\') {
      if (code[i + 1] === '\n') i++;
      else word += c + (code[++i] ?? '');
      continue;
    }
    if (c === '#' && word === '') {
      while (i < code.length && code[i] !== '\n') i++;
      i--;
      continue;
    }
    if (c === "'") {
      const end = code.indexOf("'", i + 1);
      word += code.slice(i, end === -1 ? code.length : end + 1);
      i = end === -1 ? code.length : end;
      continue;
    }
    if (c === '"') {
      let j = i + 1;
      for (; j < code.length && code[j] !== '"'; j++) {
        if (code[j] === '\\') j++;
        else if (code[j] === '$' && code[j + 1] === '(' && code[j + 2] !== '(') j = substitution(code, j + 2, found);
        else if (code[j] === '`') j = backticks(code, j, found);
      }
      word += code.slice(i, j + 1);
      i = j;
      continue;
    }
    if (c === '$' && code[i + 1] === '(') {
      if (code[i + 2] === '(') {
        const end = code.indexOf('))', i);
        word += '$(( ))';
        i = end === -1 ? code.length : end + 1;
      } else {
        i = substitution(code, i + 2, found);
        word += '$SUB';
      }
      continue;
    }
    if ((c === '<' || c === '>') && code[i + 1] === '(' && word === '') {
      i = substitution(code, i + 2, found);
      word += '$SUB';
      continue;
    }
    if (c === '`') {
      i = backticks(code, i, found);
      word += '$SUB';
      continue;
    }
    if (c === '(' && /^[A-Za-z_]\w*\+?=$/.test(word)) {
      // An array literal: its elements are words, not commands.
      i = closingParen(code, i + 1);
      word += '()';
      continue;
    }
    if (c === '(' && code[i + 1] === '(' && word === '') {
      flush();
      tokens.push({ kind: 'word', text: '((' });
      i++;
      continue;
    }
    if (c === ')' && code[i + 1] === ')' && tokens.some((t) => t.text === '((')) {
      flush();
      tokens.push({ kind: 'word', text: '))' });
      i++;
      continue;
    }
    if (c === '&' && (word.endsWith('>') || word.endsWith('<'))) {
      word += c;
      continue;
    }
    if (c === ';' || c === '&' || c === '|' || c === '(' || c === ')' || c === '\n') {
      flush();
      let op = c;
      while ((code[i + 1] === ';' || code[i + 1] === '&' || code[i + 1] === '|') && op.length < 3) op += code[++i];
      tokens.push({ kind: 'op', text: op });
      continue;
    }
    if (c === ' ' || c === '\t') {
      flush();
      continue;
    }
    word += c;
  }
  flush();
  return tokens;
}

/** Scans the command substitution whose body starts at `start`; returns the index of its `)`. */
function substitution(code: string, start: number, found: Set<string>): number {
  const end = closingParen(code, start);
  scan(code.slice(start, end), found);
  return end;
}

/** The index of the `)` closing a parenthesis whose inside starts at `start` (quotes respected). */
function closingParen(code: string, start: number): number {
  let depth = 1;
  let j = start;
  for (; j < code.length; j++) {
    const c = code[j];
    if (c === '\\') j++;
    else if (c === "'") j = code.indexOf("'", j + 1);
    else if (c === '"') {
      for (j++; j < code.length && code[j] !== '"'; j++) if (code[j] === '\\') j++;
    } else if (c === '(') depth++;
    else if (c === ')' && --depth === 0) break;
    if (j === -1) return code.length;
  }
  return j;
}

function backticks(code: string, start: number, found: Set<string>): number {
  const end = code.indexOf('`', start + 1);
  scan(code.slice(start + 1, end === -1 ? code.length : end), found);
  return end === -1 ? code.length : end;
}
