"""Just enough of the POSIX shell, and of systemd unit syntax, to find what a boot script runs.

A boot script is data to a policy: nothing here executes anything. The parser
splits a script into simple commands (quotes removed, `$VAR`, `${VAR}`,
`$(...)` and backticks kept verbatim and marked as run-time values), follows
backslash line continuations, reads here-documents (and which file they are
written to), and looks inside `sh -c '...'` strings and systemd `ExecStart=`
lines. Anything it cannot follow (an unterminated quote, say) it reads as far
as it can: a policy should see a half-parsed script rather than none.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# Longest first, so `<<-` wins over `<<` and `&&` over `&`.
_OPERATORS = (
    "&>>", "<<-", "<<<",
    "&&", "||", ";;", "<<", ">>", ">&", "<&", "&>", ">|", "|&",
    ";", "&", "|", "(", ")", "<", ">",
)  # fmt: skip
_SEPARATORS = frozenset({";", "&", "&&", "||", ";;", "|", "|&", "(", ")"})
_REDIRECTS = frozenset({">", ">>", ">|", "<", "&>", "&>>", ">&", "<&", "<<<"})
_WRITE_REDIRECTS = frozenset({">", ">>", ">|", "&>", "&>>"})
_HEREDOCS = frozenset({"<<", "<<-"})
# Reserved words that may open a command; what follows them is still a command.
_LEADING_KEYWORDS = frozenset(
    {"if", "then", "else", "elif", "fi", "do", "done", "while", "until", "!", "{", "}"}
)
# Wrappers that run the rest of their arguments as the command.
_SIMPLE_WRAPPERS = frozenset({"exec", "nohup", "command", "time", "builtin"})
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
# systemd: `ExecStart=-/usr/bin/docker run ...`; the prefixes `-@:+!` change how it runs, not what.
_SYSTEMD_EXEC = re.compile(r"^Exec[A-Za-z]*=([-@:+!]*)(.*)$", re.DOTALL)
_NAME_CHARS = re.compile(r"[A-Za-z0-9_]")
_MAX_DEPTH = 6
_UNIT_SECTION = re.compile(r"^\[[A-Za-z]+\]$")


@dataclass(frozen=True)
class Word:
    """One shell word after quote removal. `dynamic`: it holds an expansion evaluated when the script runs."""

    text: str
    dynamic: bool = False
    quoted: bool = False


@dataclass(frozen=True)
class Command:
    """A simple command, with wrappers (`sudo`, `exec`, `env X=1`) and leading assignments removed."""

    words: tuple[Word, ...]
    origin: str

    @property
    def argv(self) -> list[str]:
        return [word.text for word in self.words]


@dataclass(frozen=True)
class FileWrite:
    """A file the script writes (here-document or echo), with the content as written in the script."""

    path: str
    content: str
    append: bool
    # An unquoted here-document delimiter: `$(...)` in the body runs when the script does.
    expands: bool


@dataclass
class ParsedScript:
    commands: list[Command] = field(default_factory=list)
    writes: list[FileWrite] = field(default_factory=list)
    # Plain assignments seen so far (`IMG=vllm/vllm-openai:v0.31.0`): the value, or None when it is only
    # known at run time. Later `$IMG` / `${IMG}` are replaced by constant values (constant propagation).
    variables: dict[str, str | None] = field(default_factory=dict)
    # What the script runs in a form no static reading can follow: fail closed, the policies report it.
    unresolved: list[str] = field(default_factory=list)

    def extend(self, other: ParsedScript) -> None:
        self.commands.extend(other.commands)
        self.writes.extend(other.writes)
        self.unresolved.extend(other.unresolved)


@dataclass(frozen=True)
class _Op:
    text: str


@dataclass
class _HereDoc:
    delimiter: str
    strip_tabs: bool
    expands: bool
    body: str = ""


class _Incomplete(Exception):
    """The text ends inside a quote or an expansion: the next line belongs to it."""


# ---------------------------------------------------------------------------
# Tokens


def _skip_quoted(text: str, i: int) -> int:
    """Index after the quoted string starting at text[i] (a ' or a ")."""
    quote = text[i]
    j = i + 1
    while j < len(text):
        if quote == '"' and text[j] == "\\":
            j += 2
            continue
        if text[j] == quote:
            return j + 1
        j += 1
    raise _Incomplete


def _expansion_end(text: str, i: int) -> int:
    """Index after the expansion that starts at text[i] == '$' (i + 1 for a lone '$')."""
    n = len(text)
    if i + 1 >= n:
        return i + 1
    nxt = text[i + 1]
    if nxt in "({":
        closing = ")" if nxt == "(" else "}"
        depth = 0
        j = i + 1
        while j < n:
            ch = text[j]
            if ch == "\\":
                j += 2
                continue
            if ch in "'\"" and closing == ")":
                j = _skip_quoted(text, j)
                continue
            if ch == nxt:
                depth += 1
            elif ch == closing:
                depth -= 1
                if depth == 0:
                    return j + 1
            j += 1
        raise _Incomplete
    if nxt in "?#@*$!-" or nxt.isdigit():
        return i + 2
    j = i + 1
    while j < n and _NAME_CHARS.match(text[j]):
        j += 1
    return j


def _backtick_end(text: str, i: int) -> int:
    j = i + 1
    while j < len(text):
        if text[j] == "\\":
            j += 2
            continue
        if text[j] == "`":
            return j + 1
        j += 1
    raise _Incomplete


def _operator_at(text: str, i: int) -> str | None:
    for op in _OPERATORS:
        if text.startswith(op, i):
            return op
    return None


def tokenize(text: str) -> list[Word | _Op]:
    """Shell tokens of `text`; newlines separate commands. Raises _Incomplete on an open quote."""
    tokens: list[Word | _Op] = []
    chars: list[str] = []
    in_word = dynamic = quoted = False

    def flush() -> None:
        nonlocal in_word, dynamic, quoted
        if in_word:
            tokens.append(Word("".join(chars), dynamic, quoted))
        chars.clear()
        in_word = dynamic = quoted = False

    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch in " \t\r":
            flush()
            i += 1
        elif ch == "\n":
            flush()
            tokens.append(_Op(";"))
            i += 1
        elif ch == "#" and not in_word:
            end = text.find("\n", i)
            i = n if end < 0 else end
        elif ch == "\\":
            if i + 1 >= n:
                raise _Incomplete  # a continuation: the next line joins this one
            if text[i + 1] != "\n":
                chars.append(text[i + 1])
                in_word = quoted = True
            i += 2
        elif ch == "'":
            end = _skip_quoted(text, i)
            chars.append(text[i + 1 : end - 1])
            in_word = quoted = True
            i = end
        elif ch == '"':
            in_word = quoted = True
            j = i + 1
            while True:
                if j >= n:
                    raise _Incomplete
                c = text[j]
                if c == "\\" and j + 1 < n and text[j + 1] in '$`"\\\n':
                    if text[j + 1] != "\n":
                        chars.append(text[j + 1])
                    j += 2
                elif c == '"':
                    j += 1
                    break
                elif c == "$":
                    end = _expansion_end(text, j)
                    chars.append(text[j:end])
                    dynamic = dynamic or end - j > 1
                    j = end
                elif c == "`":
                    end = _backtick_end(text, j)
                    chars.append(text[j:end])
                    dynamic = True
                    j = end
                else:
                    chars.append(c)
                    j += 1
            i = j
        elif ch == "$":
            end = _expansion_end(text, i)
            chars.append(text[i:end])
            dynamic = dynamic or end - i > 1
            in_word = True
            i = end
        elif ch == "`":
            end = _backtick_end(text, i)
            chars.append(text[i:end])
            in_word = dynamic = True
            i = end
        else:
            op = _operator_at(text, i)
            if op is None:
                chars.append(ch)
                in_word = True
                i += 1
                continue
            if op in _REDIRECTS and in_word and not quoted and "".join(chars).isdigit():
                # `2>&1`, `1>/dev/null`: the digits name a file descriptor.
                chars.clear()
                in_word = False
            flush()
            tokens.append(_Op(op))
            i += len(op)
    flush()
    return tokens


# ---------------------------------------------------------------------------
# Commands


def _unwrap(words: list[Word]) -> list[Word]:
    """Drop leading keywords, assignments and wrappers: what runs is what follows them."""
    i = 0
    while i < len(words):
        text = words[i].text
        if text in _LEADING_KEYWORDS or _ASSIGNMENT.match(text) or text in _SIMPLE_WRAPPERS:
            i += 1
        elif text == "sudo":
            i += 1
            while i < len(words) and words[i].text.startswith("-"):
                # -u USER / -g GROUP / -C N / -h HOST take a value.
                takes_value = words[i].text in ("-u", "-g", "-C", "-h", "-p", "-r", "-t", "-U")
                i += 2 if takes_value else 1
        elif text == "env":
            i += 1
            while i < len(words) and (words[i].text.startswith("-") or _ASSIGNMENT.match(words[i].text)):
                i += 2 if words[i].text in ("-u", "-C", "-S") else 1
        elif text in ("timeout", "nice"):
            i += 1
            while i < len(words) and words[i].text.startswith("-"):
                i += 2 if words[i].text in ("-n", "-s", "-k") else 1
            if text == "timeout" and i < len(words):
                i += 1  # the duration
        else:
            break
    return words[i:]


def _systemd_exec(words: list[Word]) -> list[Word]:
    if not words:
        return words
    match = _SYSTEMD_EXEC.match(words[0].text)
    if not match:
        return words
    rest = match.group(2)
    first = [Word(rest, words[0].dynamic, words[0].quoted)] if rest else []
    return first + words[1:]


def _shell_c_script(words: list[Word]) -> str | None:
    """The script of `sh -c '...'` / `bash -ec "..."`, if that is what this command is."""
    if not words or words[0].text.rsplit("/", 1)[-1] not in ("sh", "bash", "dash", "zsh"):
        return None
    for index, word in enumerate(words[1:], start=1):
        text = word.text
        if text.startswith("-") and not text.startswith("--") and "c" in text[1:]:
            return words[index + 1].text if index + 1 < len(words) else None
        if not text.startswith("-"):
            return None
    return None


def _echo_content(words: list[Word]) -> str | None:
    name = words[0].text if words else ""
    if name == "echo":
        args = [word.text for word in words[1:]]
        interpret = False
        while args and args[0] in ("-n", "-e", "-ne", "-en", "-E"):
            interpret = interpret or "e" in args[0]
            args.pop(0)
        text = " ".join(args) + "\n"
        return text.replace("\\n", "\n") if interpret else text
    if name == "printf" and len(words) == 2:
        return words[1].text.replace("\\n", "\n")
    return None


def _tee_targets(words: list[Word]) -> tuple[list[str], bool]:
    if not words or words[0].text != "tee":
        return [], False
    append = any(word.text in ("-a", "--append") for word in words[1:])
    return [word.text for word in words[1:] if not word.text.startswith("-")], append


@dataclass
class _Simple:
    words: list[Word] = field(default_factory=list)
    redirects: list[tuple[str, Word]] = field(default_factory=list)
    heredocs: list[_HereDoc] = field(default_factory=list)


def _pipelines(tokens: list[Word | _Op], heredocs: list[_HereDoc]) -> list[list[_Simple]]:
    """Group tokens into pipelines of simple commands, attaching redirections and here-documents."""
    pipelines: list[list[_Simple]] = [[_Simple()]]
    pending = iter(heredocs)
    i = 0
    while i < len(tokens):
        token = tokens[i]
        current = pipelines[-1][-1]
        texts = [word.text for word in current.words]
        in_test = "[[" in texts and "]]" not in texts[texts.index("[[") :] if "[[" in texts else False
        if isinstance(token, Word):
            current.words.append(token)
        elif in_test and token.text in ("&&", "||", "<", ">", "(", ")"):
            # Inside `[[ ... ]]` these are the test's own operators, not command separators.
            current.words.append(Word(token.text))
        elif token.text in _HEREDOCS:
            i += 1  # the delimiter word
            doc = next(pending, None)
            if doc is not None:
                current.heredocs.append(doc)
        elif token.text in _REDIRECTS:
            if i + 1 < len(tokens) and isinstance(tokens[i + 1], Word):
                target = tokens[i + 1]
                assert isinstance(target, Word)
                current.redirects.append((token.text, target))
                i += 1
        elif token.text in ("|", "|&"):
            pipelines[-1].append(_Simple())
        elif token.text in _SEPARATORS:
            pipelines.append([_Simple()])
        i += 1
    return pipelines


def _read_heredocs(tokens: list[Word | _Op], lines: list[str], start: int) -> tuple[list[_HereDoc], int]:
    """Here-documents opened on a line take the lines that follow it, up to each delimiter."""
    docs: list[_HereDoc] = []
    for index, token in enumerate(tokens[:-1]):
        if isinstance(token, _Op) and token.text in _HEREDOCS:
            delimiter = tokens[index + 1]
            if isinstance(delimiter, Word):
                docs.append(_HereDoc(delimiter.text, token.text == "<<-", not delimiter.quoted))
    i = start
    for doc in docs:
        body: list[str] = []
        while i < len(lines):
            line = lines[i].lstrip("\t") if doc.strip_tabs else lines[i]
            i += 1
            if line.rstrip() == doc.delimiter:
                break
            body.append(line)
        doc.body = "\n".join(body) + ("\n" if body else "")
    return docs, i


def parse_script(
    text: str, origin: str, _depth: int = 0, variables: dict[str, str | None] | None = None
) -> ParsedScript:
    """Every simple command the script runs and every file it writes, nested scripts included."""
    result = ParsedScript(variables=dict(variables or {}))
    if _depth > _MAX_DEPTH:
        result.unresolved.append(f"{origin}: scripts nested more than {_MAX_DEPTH} deep")
        return result
    if _is_unit_file(text):
        return _parse_unit(text, origin, _depth)
    lines = text.replace("\r\n", "\n").split("\n")
    i = 0
    while i < len(lines):
        buffer = lines[i]
        i += 1
        while True:
            try:
                tokens = tokenize(buffer)
                break
            except _Incomplete:
                if i >= len(lines):
                    # Unterminated at the end of the text: read it as if it were closed.
                    tokens = tokenize_lenient(buffer)
                    break
                buffer += "\n" + lines[i]
                i += 1
        heredocs, i = _read_heredocs(tokens, lines, i)
        for pipeline in _pipelines(tokens, heredocs):
            _collect(pipeline, origin, result, _depth)
    return result


def _is_unit_file(text: str) -> bool:
    """A systemd unit opens with a `[Section]` header (comments aside); a script never does."""
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith(("#", ";")):
            return bool(_UNIT_SECTION.match(line))
    return False


def _parse_unit(text: str, origin: str, depth: int) -> ParsedScript:
    """A systemd unit: only `Exec*=` lines run anything (systemd joins lines ending in a backslash)."""
    result = ParsedScript()
    joined = re.sub(r"\\[ \t]*\r?\n", " ", text)
    for line in joined.splitlines():
        line = line.strip()
        if _SYSTEMD_EXEC.match(line):
            _collect(
                [_Simple(words=[w for w in tokenize_lenient(line) if isinstance(w, Word)])],
                origin,
                result,
                depth,
            )
    return result


def tokenize_lenient(text: str) -> list[Word | _Op]:
    """Tokens of text that may end inside a quote: close what is open and read on."""
    for closing in ("", "'", '"', ")", "}", "`", ")'", ')"'):
        try:
            return tokenize(text + closing)
        except _Incomplete:
            continue
    return [Word(part) for part in text.split()]


_VARIABLE_REFERENCE = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))")
_DECLARATIONS = frozenset({"export", "readonly", "declare", "local", "typeset"})
_SHELL_NAMES = frozenset({"sh", "bash", "dash", "zsh"})
# systemd-run options that take a value (`systemd-run --unit vllm -p KillMode=mixed docker run ...`).
_SYSTEMD_RUN_VALUES = frozenset(
    {"-u", "--unit", "-p", "--property", "-E", "--setenv", "--description", "--slice", "-M", "--machine",
     "--uid", "--gid", "--working-directory", "-H", "--host", "--on-active", "--on-calendar"}
)  # fmt: skip


def substitute(word: Word, variables: dict[str, str | None]) -> Word:
    """`$NAME` and `${NAME}` replaced by the constants assigned earlier; still dynamic if any remain."""
    if not word.dynamic:
        return word

    def value(match: re.Match[str]) -> str:
        constant = variables.get(match.group(1) or match.group(2))
        return constant if constant is not None else match.group(0)

    text = _VARIABLE_REFERENCE.sub(value, word.text)
    return Word(text, "$" in text or "`" in text, word.quoted)


def _record_assignments(words: list[Word], variables: dict[str, str | None]) -> bool:
    """An assignment-only command (`IMG=...`, `export IPC=host`): remember the values; True if it was one."""
    start = 1 if words and words[0].text in _DECLARATIONS else 0
    rest = [word for word in words[start:] if not word.text.startswith("-")]
    if not rest or not all(_ASSIGNMENT.match(word.text) for word in rest):
        return False
    for word in rest:
        name, _, raw_value = word.text.partition("=")
        resolved = substitute(Word(raw_value, word.dynamic, word.quoted), variables)
        variables[name] = None if resolved.dynamic else resolved.text
    return True


def _user_c_script(words: list[Word]) -> str | None:
    """The command string of `su [USER] -c '...'` / `runuser -u USER -c '...'`."""
    if not words or words[0].text not in ("su", "runuser"):
        return None
    for index, word in enumerate(words[1:], start=1):
        if word.text in ("-c", "--command") and index + 1 < len(words):
            return words[index + 1].text
        if word.text.startswith("--command="):
            return word.text.partition("=")[2]
    return None


def _systemd_run_command(words: list[Word]) -> list[Word] | None:
    """What `systemd-run [options] COMMAND...` starts."""
    if not words or words[0].text.rsplit("/", 1)[-1] != "systemd-run":
        return None
    i = 1
    while i < len(words) and words[i].text.startswith("-"):
        name = words[i].text.partition("=")[0]
        i += 2 if name in _SYSTEMD_RUN_VALUES and "=" not in words[i].text else 1
    return words[i:]


def _unresolved(words: list[Word], pipeline_position: int, result: ParsedScript) -> str | None:
    """Why this command cannot be followed statically, or None when it can."""
    name = words[0].text.rsplit("/", 1)[-1]
    written = {write.path for write in result.writes}
    if words[0].dynamic:
        return f"runs a command whose name is only known when the script runs ({words[0].text})"
    if name == "eval":
        return "runs eval, whose command is built when the script runs"
    if name in (".", "source") and len(words) > 1 and words[1].text not in written:
        return f"sources {words[1].text}, which the user data does not write"
    if name in _SHELL_NAMES:
        args = [word for word in words[1:] if not word.text.startswith("-")]
        has_c = any(
            w.text.startswith("-") and "c" in w.text[1:] and not w.text.startswith("--") for w in words
        )
        if not has_c and args and args[0].text not in written:
            return f"runs the script {args[0].text}, which the user data does not write"
        if not has_c and not args and pipeline_position > 0:
            return "pipes a script fetched or built at run time into a shell"
    return None


def _collect(pipeline: list[_Simple], origin: str, result: ParsedScript, depth: int) -> None:
    variables = result.variables
    for simple in pipeline:
        if len(pipeline) == 1 and _record_assignments(simple.words, variables):
            simple.words = []
        else:
            simple.words = [substitute(word, variables) for word in simple.words]
    targets: list[tuple[str, bool]] = []
    docs: list[_HereDoc] = []
    for simple in pipeline:
        docs.extend(simple.heredocs)
        for op, target in simple.redirects:
            if op in _WRITE_REDIRECTS:
                targets.append((target.text, op in (">>", "&>>")))
        tee_paths, tee_append = _tee_targets(_unwrap(simple.words))
        targets.extend((path, tee_append) for path in tee_paths)

    for position, simple in enumerate(pipeline):
        words = _unwrap(_systemd_exec(simple.words))
        started = _systemd_run_command(words)
        if started is not None:
            words = _unwrap(started)
        if not words:
            continue
        problem = _unresolved(words, position, result)
        if problem is not None:
            result.unresolved.append(f"{origin} {problem}")
        result.commands.append(Command(tuple(words), origin))
        nested, how = _shell_c_script(words), "sh -c"
        if nested is None:
            nested, how = _user_c_script(words), f"{words[0].text} -c"
        if nested is not None:
            result.extend(parse_script(nested, f"{origin} ({how})", depth + 1, variables))
        content = _echo_content(words)
        if content is not None:
            for op, target in simple.redirects:
                if op in _WRITE_REDIRECTS:
                    result.writes.append(FileWrite(target.text, content, op in (">>", "&>>"), True))

    for doc in docs:
        real_targets = [(path, append) for path, append in targets if not path.startswith("/dev/")]
        for path, append in real_targets:
            result.writes.append(FileWrite(path, doc.body, append, doc.expands))
        where = real_targets[0][0] if real_targets else "a here-document"
        # A unit file or a script written by the script may hold the command that matters.
        result.extend(parse_script(doc.body, f"{origin} → {where}", depth + 1, variables))


def written_files(writes: list[FileWrite]) -> dict[str, FileWrite]:
    """The final content of each file, in the order the script writes them (`>>` appends)."""
    files: dict[str, FileWrite] = {}
    for write in writes:
        previous = files.get(write.path)
        if write.append and previous is not None:
            files[write.path] = FileWrite(
                write.path, previous.content + write.content, True, previous.expands or write.expands
            )
        else:
            files[write.path] = write
    return files
