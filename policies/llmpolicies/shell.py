"""What a boot script runs and writes, read with tree-sitter-bash (the grammar GitHub and editors use).

A boot script is data to a policy: nothing here executes anything. tree-sitter
parses the script into a concrete syntax tree; this module walks it and gives
the policies simple commands (quotes removed; `$VAR`, `${...}`, `$(...)` and
backticks kept verbatim and marked as run-time values unless a plain
assignment made them constants), the files the script writes (here-documents,
`echo`/`printf`/`tee` into files), and what no static reading can follow.
Commands are found wherever they run: pipelines, `&&`/`||` lists, `if`,
`while`, `for`, `case`, functions, subshells, `{ }` groups and command
substitutions; nested scripts too (`sh -c '...'`, `su -c`, `systemd-run`,
scripts and systemd units written by here-documents).

tree-sitter never raises on bad input: what it cannot read becomes an ERROR or
MISSING node. Each is reported by line in `unresolved` (fail closed), and the
text of an ERROR node is read again with a closing quote or bracket added, so a
policy sees a half-readable script rather than none. systemd unit files are not
shell: their `Exec*=` lines are found by a small reader here and only the
command line itself is parsed as shell.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import tree_sitter_bash
from tree_sitter import Language, Node, Parser

_PARSER = Parser(Language(tree_sitter_bash.language()))

_WRITE_REDIRECTS = frozenset({">", ">>", ">|", "&>", "&>>"})
# Wrappers that run the rest of their arguments as the command.
_SIMPLE_WRAPPERS = frozenset({"exec", "nohup", "command", "time", "builtin"})
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
_NAME = re.compile(r"^(?:[A-Za-z_][A-Za-z0-9_]*|[0-9]+|[?#@*$!-])$")
# systemd: `ExecStart=-/usr/bin/docker run ...`; the prefixes `-@:+!` change how it runs, not what.
_SYSTEMD_EXEC = re.compile(r"^Exec[A-Za-z]*=([-@:+!]*)(.*)$", re.DOTALL)
_MAX_DEPTH = 6
_UNIT_SECTION = re.compile(r"^\[[A-Za-z]+\]$")
_DECLARATIONS = frozenset({"export", "readonly", "declare", "local", "typeset"})
_SHELL_NAMES = frozenset({"sh", "bash", "dash", "zsh"})
# systemd-run options that take a value (`systemd-run --unit vllm -p KillMode=mixed docker run ...`).
_SYSTEMD_RUN_VALUES = frozenset(
    {"-u", "--unit", "-p", "--property", "-E", "--setenv", "--description", "--slice", "-M", "--machine",
     "--uid", "--gid", "--working-directory", "-H", "--host", "--on-active", "--on-calendar"}
)  # fmt: skip
# What is appended to the text of an ERROR node to read it again: the usual ways a line is left open.
_CLOSERS = ("'", '"', ")", "`", "}", '")', "')", "\nfi", "\ndone", "\nesac")
_REDIRECT_TYPES = frozenset({"file_redirect", "heredoc_redirect", "herestring_redirect"})
# Constructs whose inner assignments do not outlive them (they run in a subshell).
_SUBSHELLS = frozenset({"subshell", "command_substitution", "process_substitution"})
_ANSI_C_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", "'": "'", '"': '"', "e": "\x1b", "a": "\a"}


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
    # Written files the shell parser cannot fully read, with why: data (JSON, YAML) until something runs them.
    unreadable: dict[str, list[str]] = field(default_factory=dict)

    def extend(self, other: ParsedScript) -> None:
        self.commands.extend(other.commands)
        self.writes.extend(other.writes)
        self.unresolved.extend(other.unresolved)
        for path, problems in other.unreadable.items():
            self.unreadable.setdefault(path, []).extend(problems)


@dataclass
class _HereDoc:
    body: str
    expands: bool


@dataclass
class _Simple:
    """One element of a pipeline: its words (empty for a `{ }` group or a loop) and its redirections."""

    words: list[Word] = field(default_factory=list)
    redirects: list[tuple[str, Word]] = field(default_factory=list)
    heredocs: list[_HereDoc] = field(default_factory=list)
    herestrings: list[Word] = field(default_factory=list)


# ---------------------------------------------------------------------------
# Quote removal


def _unescape_unquoted(text: str) -> str:
    """Outside quotes a backslash keeps the next character; backslash-newline joins lines."""
    return re.sub(r"\\(\n|.)", lambda m: "" if m.group(1) == "\n" else m.group(1), text, flags=re.DOTALL)


def _unescape_double(text: str) -> str:
    """Inside double quotes a backslash escapes only $ ` " \\ and newline."""
    return re.sub(r'\\([$`"\\\n])', lambda m: "" if m.group(1) == "\n" else m.group(1), text)


def _unescape_ansi_c(text: str) -> str:
    return re.sub(r"\\(.)", lambda m: _ANSI_C_ESCAPES.get(m.group(1), "\\" + m.group(1)), text)


def _unfielded(node: Node) -> list[Node]:
    """Named children outside the grammar's fields: the body of an `if` or of a `case` arm."""
    return [
        child
        for i, child in enumerate(node.children)
        if child.is_named and node.field_name_for_child(i) is None
    ]


# ---------------------------------------------------------------------------
# The walk


class _Walker:
    """Reads one script's tree in order, as the shell would run it, into `result`."""

    def __init__(self, source: bytes, origin: str, depth: int, result: ParsedScript, first_line: int = 1):
        self.source = source
        self.origin = origin
        self.depth = depth
        self.result = result
        self.first_line = first_line

    def text(self, node: Node) -> str:
        return self.source[node.start_byte : node.end_byte].decode("utf-8", "replace")

    def between(self, start: int, end: int) -> str:
        return self.source[start:end].decode("utf-8", "replace")

    # -- statements ---------------------------------------------------------

    def statements(self, nodes: list[Node]) -> None:
        skip = False
        for node, following in zip(nodes, [*nodes[1:], None], strict=False):
            if skip:
                skip = False
            elif (
                following is not None
                and following.type == "ERROR"
                and following.start_point.row == node.end_point.row
                and self.reread(node.start_byte, following.end_byte, node.start_point.row)
            ):
                # `echo 'unterminated`: the command the grammar closed early and the ERROR after it are one.
                skip = True
            else:
                self.statement(node)

    def statement(self, node: Node) -> None:
        kind = node.type
        if kind in ("command", "redirected_statement", "pipeline"):
            self.pipeline(node)
        elif kind == "variable_assignment":
            self.assign(node)
        elif kind == "variable_assignments":
            for child in node.named_children:
                self.assign(child)
        elif kind == "declaration_command":
            self.declare(node)
        elif kind == "unset_command":
            for child in node.named_children:
                self.result.variables.pop(self.text(child), None)
        elif kind == "list":
            # `a && b || c`: the first runs, what follows may not.
            first, *rest = node.named_children or [node]
            if first is not node:
                self.statement(first)
            for child in rest:
                self.branches([[child]], exhaustive=False)
        elif kind == "if_statement":
            self.if_statement(node)
        elif kind in ("while_statement", "until_statement"):
            self.statements(node.children_by_field_name("condition"))
            self.branches([node.children_by_field_name("body")], exhaustive=False)
        elif kind in ("for_statement", "c_style_for_statement"):
            for name in node.children_by_field_name("variable"):
                self.result.variables[self.text(name)] = None
            self.statements(node.children_by_field_name("value"))
            self.branches([node.children_by_field_name("body")], exhaustive=False)
        elif kind == "case_statement":
            self.statements(node.children_by_field_name("value"))
            items = [item for item in node.named_children if item.type == "case_item"]
            self.branches([_unfielded(item) for item in items], exhaustive=False)
        elif kind == "function_definition":
            # The body runs when the function is called, which a static reading does not follow: its commands
            # are read here, its assignments may or may not have happened afterwards.
            self.branches([node.children_by_field_name("body")], exhaustive=False)
        elif kind in _SUBSHELLS:
            self.scoped(node.named_children)
        elif kind == "ERROR":
            self.recover(node)
        elif kind in ("comment", "heredoc_body", "heredoc_start", "heredoc_end", "variable_name", "word"):
            return
        else:
            # `{ }` groups, `!`, `[[ ]]` (whose `$(...)` run), do groups, arithmetic: what is inside runs.
            self.statements(node.named_children)

    def if_statement(self, node: Node) -> None:
        self.statements(node.children_by_field_name("condition"))
        clauses = [child for child in node.named_children if child.type in ("elif_clause", "else_clause")]
        then = [child for child in _unfielded(node) if child not in clauses]
        exhaustive = any(clause.type == "else_clause" for clause in clauses)
        self.branches([then] + [clause.named_children for clause in clauses], exhaustive=exhaustive)

    def branches(self, arms: list[list[Node]], exhaustive: bool) -> None:
        """Read each arm from the same state; afterwards a variable is a constant only if every way agrees."""
        before = self.result.variables
        outcomes = []
        for arm in arms:
            self.result.variables = dict(before)
            self.statements(arm)
            outcomes.append(self.result.variables)
        if not exhaustive:
            outcomes.append(before)
        merged: dict[str, str | None] = {}
        for name in {name for outcome in outcomes for name in outcome}:
            values = {outcome.get(name, "\0unset") for outcome in outcomes}
            only = values.pop() if len(values) == 1 else None
            merged[name] = None if only == "\0unset" else only
        self.result.variables = merged

    def scoped(self, nodes: list[Node]) -> None:
        """A subshell's assignments end with it."""
        before = dict(self.result.variables)
        self.statements(nodes)
        self.result.variables = before

    # -- assignments --------------------------------------------------------

    def assign(self, node: Node) -> None:
        name_node = node.child_by_field_name("name")
        if name_node is None:
            return
        name = self.text(name_node)
        value_node = node.child_by_field_name("value")
        if value_node is None:
            value: str | None = ""
        elif value_node.type == "array":
            self.statements(value_node.named_children)
            value = None
        else:
            word = self.word(value_node)
            value = None if word.dynamic else word.text
        if any(child.type == "+=" for child in node.children):
            previous = self.result.variables.get(name, "")
            value = None if previous is None or value is None else previous + value
        self.result.variables[name] = value

    def declare(self, node: Node) -> None:
        for child in node.named_children:
            if child.type == "variable_assignment":
                self.assign(child)
            elif child.type not in ("variable_name", "word"):
                self.statement(child)

    # -- words --------------------------------------------------------------

    def word(self, node: Node) -> Word:
        text, dynamic, quoted = self.parts(node)
        return Word(text, dynamic, quoted)

    def parts(self, node: Node) -> tuple[str, bool, bool]:
        """Quote-removed text of a word node, whether it holds a run-time expansion, whether it was quoted."""
        kind = node.type
        raw = self.text(node)
        if kind == "raw_string":
            return raw[1:-1] if raw.endswith("'") and len(raw) > 1 else raw[1:], False, True
        if kind == "ansi_c_string":
            inner = raw[2:-1] if raw.endswith("'") and len(raw) > 2 else raw[2:]
            return _unescape_ansi_c(inner), False, True
        if kind in ("string", "translated_string"):
            start = node.start_byte + (2 if kind == "translated_string" else 1)
            end = node.end_byte - 1 if raw.endswith('"') and node.end_byte - 1 >= start else node.end_byte
            text, dynamic = self.joined(node, start, end, _unescape_double)
            return text, dynamic, True
        if kind == "concatenation":
            text, dynamic = self.joined(node, node.start_byte, node.end_byte, _unescape_unquoted)
            quoted = "\\" in raw or "'" in raw or '"' in raw
            return text, dynamic, quoted
        if kind in ("simple_expansion", "expansion"):
            return self.expansion(node, raw)
        if kind in _SUBSHELLS:
            self.scoped(node.named_children)
            return raw, True, False
        if kind == "arithmetic_expansion":
            self.statements(node.named_children)
            return raw, True, False
        if kind in ("word", "number"):
            return (_unescape_unquoted(raw), False, True) if "\\" in raw else (raw, False, False)
        # Globs, brace expressions, test patterns: literal text, but a `$(...)` inside still runs.
        self.statements(node.named_children)
        return raw, "$" in raw or "`" in raw, False

    def joined(self, node: Node, start: int, end: int, unescape: Callable[[str], str]) -> tuple[str, bool]:
        """The parts of a string or concatenation; the text between named parts is literal."""
        pieces: list[str] = []
        dynamic = False
        position = start
        for child in node.named_children:
            if child.start_byte < start or child.end_byte > end:
                continue
            pieces.append(unescape(self.between(position, child.start_byte)))
            if child.type == "string_content":
                pieces.append(unescape(self.text(child)))
            else:
                text, child_dynamic, _ = self.parts(child)
                pieces.append(text)
                dynamic = dynamic or child_dynamic
            position = child.end_byte
        pieces.append(unescape(self.between(position, end)))
        return "".join(pieces), dynamic

    def expansion(self, node: Node, raw: str) -> tuple[str, bool, bool]:
        """`$NAME` and plain `${NAME}` become the constant assigned earlier; the rest is a run-time value."""
        named = node.named_children
        if len(named) == 1 and named[0].type in ("variable_name", "special_variable_name"):
            name = self.text(named[0])
            if not _NAME.match(name):
                return raw, False, False  # a `$` followed by a space is literal text
            simple = node.type == "simple_expansion" or raw == "${" + name + "}"
            constant = self.result.variables.get(name) if simple else None
            if constant is not None:
                return constant, False, False
        else:
            self.statements(named)  # `${X:-$(cmd)}`: the default's command runs
        return raw, True, False

    def arguments(self, node: Node) -> list[Word]:
        """One argument: a bare constant `$OPTS` splits on blanks as the shell does; empty, it vanishes."""
        word = self.word(node)
        if node.type in ("simple_expansion", "expansion") and not word.dynamic:
            return [Word(part) for part in word.text.split()]
        return [word]

    # -- pipelines ----------------------------------------------------------

    def pipeline(self, node: Node) -> None:
        simples: list[_Simple] = []
        after: list[Node] = []
        self.elements(node, simples, after)
        if simples:
            self.collect(simples)
        # Commands the grammar hangs on a here-document's first line (`<<EOF && next`) run after it.
        for child in after:
            self.branches([[child]], exhaustive=False)

    def elements(self, node: Node, simples: list[_Simple], after: list[Node]) -> None:
        kind = node.type
        if kind == "pipeline":
            for child in node.named_children:
                self.elements(child, simples, after)
            return
        simple = _Simple()
        if kind == "command":
            for index, child in enumerate(node.children):
                name = node.field_name_for_child(index)
                if child.type in _REDIRECT_TYPES:
                    self.redirect(child, simple, simples, after)
                elif name in ("name", "argument"):
                    target = child.named_children[0] if name == "name" and child.named_children else child
                    simple.words.extend(self.arguments(target))
                elif child.type == "variable_assignment":
                    # `X=1 cmd`: X is set for cmd only, but its value's `$(...)` runs.
                    value = child.child_by_field_name("value")
                    if value is not None:
                        self.word(value)
                elif child.is_named:
                    self.statement(child)
            if not simple.words and not simple.redirects:
                # `A=1 B=2` parsed as a command without a name: plain assignments.
                for child in node.named_children:
                    if child.type == "variable_assignment":
                        self.assign(child)
        elif kind == "redirected_statement":
            body = node.child_by_field_name("body")
            if body is not None and body.type in ("command", "pipeline", "redirected_statement"):
                inner: list[_Simple] = []
                self.elements(body, inner, after)
                simples.extend(inner[:-1])
                simple = inner[-1] if inner else simple
            elif body is not None:
                self.statement(body)
            pending = len(simples)
            for child in node.children:
                if child.type in _REDIRECT_TYPES:
                    self.redirect(child, simple, simples, after)
            # A pipeline continued after a here-document belongs after this element.
            continued = simples[pending:]
            del simples[pending:]
            simples.append(simple)
            simples.extend(continued)
            return
        else:
            self.statement(node)
            return
        simples.append(simple)

    def redirect(self, node: Node, simple: _Simple, simples: list[_Simple], after: list[Node]) -> None:
        kind = node.type
        if kind == "file_redirect":
            operator = next((child.type for child in node.children if not child.is_named), "")
            targets = [child for child in node.named_children if child.type != "file_descriptor"]
            if targets:
                simple.redirects.append((operator, self.word(targets[0])))
            # The grammar hangs words after the target on the redirection (`cmd > f arg`): they are arguments.
            for extra in targets[1:]:
                simple.words.extend(self.arguments(extra))
        elif kind == "herestring_redirect":
            for child in node.named_children:
                simple.herestrings.append(self.word(child))
        elif kind == "heredoc_redirect":
            start = next((child for child in node.children if child.type == "heredoc_start"), None)
            strip_tabs = any(child.type == "<<-" for child in node.children)
            expands = start is not None and not any(quote in self.text(start) for quote in "'\"\\")
            body = next((child for child in node.children if child.type == "heredoc_body"), None)
            end = next((child for child in node.children if child.type == "heredoc_end"), None)
            simple.heredocs.append(_HereDoc(self.heredoc_text(body, end, strip_tabs), expands))
            for child in node.named_children:
                if child.type in ("heredoc_start", "heredoc_body", "heredoc_end"):
                    continue
                if child.type in _REDIRECT_TYPES:
                    self.redirect(child, simple, simples, after)
                elif child.type == "pipeline":
                    for element in child.named_children:
                        self.elements(element, simples, after)
                else:
                    after.append(child)

    def heredoc_text(self, body: Node | None, end: Node | None, strip_tabs: bool) -> str:
        """The lines between the here-document's first line and its delimiter, as written."""
        if body is None:
            return ""
        start = self.source.rfind(b"\n", 0, body.start_byte) + 1
        closed = end is not None and not end.is_missing
        stop = (
            self.source.rfind(b"\n", 0, end.start_byte) + 1 if end is not None and closed else body.end_byte
        )
        text = self.between(start, max(start, stop))
        if strip_tabs:
            text = re.sub(r"(?m)^\t+", "", text)
        return text

    # -- what a pipeline runs -----------------------------------------------

    def collect(self, pipeline: list[_Simple]) -> None:
        result, origin = self.result, self.origin
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
            words = _unwrap(simple.words)
            started = _systemd_run_command(words)
            if started is not None:
                words = _unwrap(started)
            if not words:
                continue
            if len(pipeline) == 1 and words[0].text == "read":
                for word in words[1:]:
                    if not word.text.startswith("-"):
                        result.variables[word.text] = None
            problem = _unresolved(words, position, result, simple.herestrings)
            if problem is not None:
                result.unresolved.append(f"{origin} {problem}")
            result.commands.append(Command(tuple(words), origin))
            nested, how = _shell_c_script(words), "sh -c"
            if nested is None:
                nested, how = _user_c_script(words), f"{words[0].text} -c"
            if nested is None and words[0].text.rsplit("/", 1)[-1] in _SHELL_NAMES:
                # `bash <<< "docker run ..."`: the here-string is the script.
                nested = next((word.text for word in simple.herestrings if not word.dynamic), None)
                how = f"{words[0].text} <<<"
            if nested is not None:
                result.extend(parse_script(nested, f"{origin} ({how})", self.depth + 1, result.variables))
            content = _echo_content(words)
            if content is not None:
                for op, target in simple.redirects:
                    if op in _WRITE_REDIRECTS:
                        result.writes.append(FileWrite(target.text, content, op in (">>", "&>>"), True))

        # `bash <<EOF`, `cat <<EOF | sudo sh`: the here-document is the script a shell runs.
        fed_to_shell = any(_reads_script_from_stdin(_unwrap(simple.words)) for simple in pipeline)
        for doc in docs:
            real_targets = [(path, append) for path, append in targets if not path.startswith("/dev/")]
            for path, append in real_targets:
                result.writes.append(FileWrite(path, doc.body, append, doc.expands))
            where = real_targets[0][0] if real_targets else "a here-document"
            # A unit file or a script written by the script may hold the command that matters. Text fed to
            # another program (`cat <<EOF | kubectl apply -f -`) or written to a file nothing runs is data:
            # its commands are read, but shell syntax it lacks is no fault (`as_file`).
            as_file = None if fed_to_shell else where
            written = parse_script(
                doc.body, f"{origin} → {where}", self.depth + 1, result.variables, as_file=as_file
            )
            result.extend(written)

    # -- what the parser could not read --------------------------------------

    def recover(self, node: Node) -> None:
        """Read an ERROR node again with the quote or bracket it lacks; failing that, what is inside it."""
        if not self.reread(node.start_byte, node.end_byte, node.start_point.row):
            self.statements(node.named_children)

    def reread(self, start: int, end: int, row: int) -> bool:
        """Read source[start:end] again with a closing quote or bracket added, if one makes it parse."""
        text = self.source[start:end]
        for closing in _CLOSERS:
            source = text + closing.encode()
            tree = _PARSER.parse(source)
            if not tree.root_node.has_error:
                walker = _Walker(source, self.origin, self.depth, self.result, self.first_line + row)
                walker.statements(tree.root_node.named_children)
                return True
        return False

    def syntax_problems(self, root: Node) -> Iterator[str]:
        """Each place the parser could not read (ERROR) or found a closing token missing (MISSING)."""
        stack = [root]
        while stack:
            node = stack.pop()
            line = self.first_line + node.start_point.row
            if node.is_error:
                # An ERROR that takes the line's newline ends at column 0 of the next line.
                last = (
                    self.first_line
                    + node.end_point.row
                    - (node.end_point.column == 0 and node.end_point.row > node.start_point.row)
                )
                where = f"line {line}" if last == line else f"lines {line}-{last}"
                snippet = self.text(node).strip().split("\n", 1)[0][:60]
                yield f"{where}: the shell parser cannot read {snippet!r} (fix the shell syntax)"
            elif node.is_missing:
                # bash itself reads an unterminated here-document to the end of the script.
                if node.type != "heredoc_end":
                    yield (
                        f"line {line}: the shell parser expected {node.type!r} here: the script ends inside "
                        "an unclosed construct (fix the shell syntax)"
                    )
            elif node.has_error:
                stack.extend(reversed(node.children))


# ---------------------------------------------------------------------------
# Commands


def _unwrap(words: list[Word]) -> list[Word]:
    """Drop leading assignments and wrappers: what runs is what follows them."""
    i = 0
    while i < len(words):
        text = words[i].text
        if _ASSIGNMENT.match(text) or text in _SIMPLE_WRAPPERS:
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


def _shell_c_script(words: list[Word]) -> str | None:
    """The script of `sh -c '...'` / `bash -ec "..."`, if that is what this command is."""
    if not words or words[0].text.rsplit("/", 1)[-1] not in _SHELL_NAMES:
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


def _reads_script_from_stdin(words: list[Word]) -> bool:
    if not words or words[0].text.rsplit("/", 1)[-1] not in _SHELL_NAMES:
        return False
    return _shell_c_script(words) is None and not [w for w in words[1:] if not w.text.startswith("-")]


def _unresolved(
    words: list[Word], pipeline_position: int, result: ParsedScript, herestrings: list[Word]
) -> str | None:
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
        if not has_c and not args and any(word.dynamic for word in herestrings):
            return "feeds a shell a script built when the script runs (<<<)"
        if not has_c and not args and pipeline_position > 0:
            return "pipes a script fetched or built at run time into a shell"
    return None


# ---------------------------------------------------------------------------
# Entry points


def parse_script(
    text: str,
    origin: str,
    _depth: int = 0,
    variables: dict[str, str | None] | None = None,
    *,
    as_file: str | None = None,
) -> ParsedScript:
    """Every simple command the script runs and every file it writes, nested scripts included.

    `as_file`: the text is the content of that written file, which may be data (JSON, YAML) rather than a
    script: what the shell parser cannot read is kept in `unreadable` under that path, and becomes
    `unresolved` only when something runs the file (`report_unreadable_runs`). A `#!` line makes it a
    script at once."""
    result = ParsedScript(variables=dict(variables or {}))
    if _depth > _MAX_DEPTH:
        result.unresolved.append(f"{origin}: scripts nested more than {_MAX_DEPTH} deep")
        return result
    if _is_unit_file(text):
        return _parse_unit(text, origin, _depth)
    source = text.replace("\r\n", "\n").encode("utf-8")
    problems = _read_shell(source, origin, _depth, result, 1)
    if as_file is not None and not text.startswith("#!"):
        if problems:
            result.unreadable.setdefault(as_file, []).extend(problems)
    else:
        result.unresolved.extend(f"{origin} {problem}" for problem in problems)
    if _depth == 0 and as_file is None:
        report_unreadable_runs(result)
    return result


def _read_shell(source: bytes, origin: str, depth: int, result: ParsedScript, first_line: int) -> list[str]:
    """Read the script into `result`; return where the shell parser could not read it."""
    root = _PARSER.parse(source).root_node
    walker = _Walker(source, origin, depth, result, first_line)
    problems = list(walker.syntax_problems(root)) if root.has_error else []
    walker.statements(root.named_children)
    return problems


def report_unreadable_runs(script: ParsedScript) -> None:
    """Fail closed on a written file the shell parser cannot read once a command runs or sources it."""
    for command in script.commands:
        words = command.words
        name = words[0].text.rsplit("/", 1)[-1]
        paths = [words[0].text]
        if name in (".", "source") or name in _SHELL_NAMES:
            paths.extend(word.text for word in words[1:2] if not word.text.startswith("-"))
        for path in paths:
            problems = script.unreadable.pop(path, None)
            if problems:
                script.unresolved.append(
                    f"{command.origin} runs {path}, which the shell parser cannot read: {'; '.join(problems)}"
                )


def _is_unit_file(text: str) -> bool:
    """A systemd unit opens with a `[Section]` header (comments aside); a script never does."""
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith(("#", ";")):
            return bool(_UNIT_SECTION.match(line))
    return False


def _unit_lines(text: str) -> Iterator[tuple[int, str]]:
    """Logical lines of a unit with their first line number: systemd joins lines ending in a backslash."""
    pending: list[str] = []
    start = 1
    for number, line in enumerate(text.replace("\r\n", "\n").split("\n"), start=1):
        if not pending:
            start = number
        stripped = line.rstrip()
        if stripped.endswith("\\"):
            pending.append(stripped[:-1])
            continue
        pending.append(line)
        yield start, " ".join(pending)
        pending = []
    if pending:
        yield start, " ".join(pending)


def _parse_unit(text: str, origin: str, depth: int) -> ParsedScript:
    """A systemd unit: only `Exec*=` lines run anything; their command line is read as shell words."""
    result = ParsedScript()
    for number, line in _unit_lines(text):
        match = _SYSTEMD_EXEC.match(line.strip())
        if match:
            problems = _read_shell(match.group(2).encode("utf-8"), origin, depth, result, number)
            result.unresolved.extend(f"{origin} {problem}" for problem in problems)
    return result


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
