"""A small command-line parser with the part of argparse's interface the verbs use.

Why not argparse: importing it and building the parser for every verb cost about 15 ms on each call
(measured with -X importtime and a profiler), more than the whole of `ociruntime state` otherwise,
and engines call the runtime several times per container. Registering every verb here costs well
under a millisecond.

Accepted forms, as runc's: `--flag value`, `--flag=value`, `-f value`, boolean flags, repeated flags
(`append`), options before or after positionals, `--` to end options. A remainder positional (exec's
command) takes everything after it verbatim.
"""

from __future__ import annotations

import sys

from ociruntime import errors

TYPE_CHECKING = False  # typing costs an import on every call; mypy reads this as True
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from typing import Any

REMAINDER = "..."
SUPPRESS = "==SUPPRESS=="


class Namespace:
    """Parsed values as attributes (argparse.Namespace's role)."""

    def __init__(self, **values: Any) -> None:
        self.__dict__.update(values)

    def __getattr__(self, name: str) -> Any:  # only reached for names never set: a typo in a verb
        raise AttributeError(name)

    def __repr__(self) -> str:
        return f"Namespace({self.__dict__!r})"


class _Option:
    def __init__(self, names: tuple[str, ...], dest: str, kw: dict[str, Any]) -> None:
        self.names = names
        self.dest = dest
        self.action = kw.get("action")
        self.default = kw.get(
            "default", [] if self.action == "append" else False if self.action == "store_true" else None
        )
        self.type: Callable[[str], Any] | None = kw.get("type")
        self.choices: Sequence[str] | None = kw.get("choices")
        self.nargs = kw.get("nargs")
        self.const = kw.get("const")
        self.help = kw.get("help") or ""

    @property
    def takes_value(self) -> bool:
        return self.action != "store_true"

    def convert(self, text: str, where: str) -> Any:
        if self.choices is not None and text not in self.choices:
            raise errors.UsageError(f"{where}: invalid choice {text!r} (choose from {', '.join(self.choices)})")
        if self.type is None:
            return text
        try:
            return self.type(text)
        except (ValueError, errors.UsageError) as e:
            raise errors.UsageError(f"{where}: invalid value {text!r}: {e}") from None


class Parser:
    def __init__(self, prog: str, description: str = "", **_: Any) -> None:
        self.prog = prog
        # Errors name the verb ("kill: ..."): the log line already says it is ociruntime speaking.
        self.where = prog.partition(" ")[2] or prog
        self.description = description
        self.options: dict[str, _Option] = {}
        self.ordered: list[_Option] = []
        self.positionals: list[_Option] = []
        self.defaults: dict[str, Any] = {}
        self.subparsers: Subparsers | None = None

    def add_argument(self, *names: str, **kw: Any) -> None:
        if names[0].startswith("-"):
            long = next((n for n in names if n.startswith("--")), names[0])
            option = _Option(names, kw.get("dest") or long.lstrip("-").replace("-", "_"), kw)
            for name in names:
                self.options[name] = option
            self.ordered.append(option)
        else:
            self.positionals.append(_Option(names, names[0], kw))

    def set_defaults(self, **values: Any) -> None:
        self.defaults.update(values)

    def add_subparsers(self, dest: str, **_: Any) -> Subparsers:
        self.subparsers = Subparsers(self, dest)
        return self.subparsers

    def parse_args(self, argv: Sequence[str] | None = None) -> Namespace:
        args = list(sys.argv[1:] if argv is None else argv)
        values: dict[str, Any] = {o.dest: o.default for o in self.ordered}
        values.update({p.dest: p.default for p in self.positionals})
        values.update(self.defaults)
        if self.subparsers is not None:
            values.setdefault(self.subparsers.dest, None)
        self._parse_into(args, values)
        return Namespace(**values)

    def _parse_into(self, args: list[str], values: dict[str, Any]) -> None:
        positional: list[str] = []
        index = 0
        only_positional = False
        while index < len(args):
            arg = args[index]
            index += 1
            if only_positional or arg == "-" or not arg.startswith("-"):
                if self.subparsers is not None and not positional:
                    values[self.subparsers.dest] = arg
                    self.subparsers.parse(arg, args[index:], values)
                    return
                positional.append(arg)
                if self._remainder_reached(positional):
                    positional.extend(args[index:])
                    break
                continue
            if arg == "--":
                only_positional = True
                continue
            if arg in ("-h", "--help"):
                sys.stdout.write(self.usage())
                raise SystemExit(0)
            index = self._take_option(arg, args, index, values)
        self._assign_positionals(positional, values)

    def _remainder_reached(self, positional: list[str]) -> bool:
        """True once every positional before a remainder one is filled: the rest is taken verbatim."""
        remainder = next((i for i, p in enumerate(self.positionals) if p.nargs == REMAINDER), None)
        return remainder is not None and len(positional) >= remainder

    def _take_option(self, arg: str, args: list[str], index: int, values: dict[str, Any]) -> int:
        name, eq, inline = arg.partition("=")
        option = self.options.get(name)
        if option is None:
            raise errors.UsageError(f"{self.where}: unknown flag {name}")
        if not option.takes_value:
            if eq:
                raise errors.UsageError(f"{self.where}: {name} takes no value")
            values[option.dest] = True
            return index
        if eq:
            text = inline
        elif option.nargs == "?":
            # An optional value: only taken when the next word is one of the allowed values.
            if index < len(args) and option.choices is not None and args[index] in option.choices:
                text, index = args[index], index + 1
            else:
                values[option.dest] = option.const
                return index
        elif index < len(args):
            text, index = args[index], index + 1
        else:
            raise errors.UsageError(f"{self.where}: {name} needs a value")
        value = option.convert(text, f"{self.where}: {name}")
        if option.action == "append":
            values[option.dest] = [*values[option.dest], value]
        else:
            values[option.dest] = value
        return index

    def _assign_positionals(self, words: list[str], values: dict[str, Any]) -> None:
        for spec in self.positionals:
            if spec.nargs == REMAINDER:
                values[spec.dest] = words
                words = []
            elif words:
                values[spec.dest] = spec.convert(words.pop(0), f"{self.where}: {spec.dest}")
            elif spec.nargs != "?":
                raise errors.UsageError(f"{self.where}: missing argument {spec.dest.upper()}")
        if words:
            raise errors.UsageError(f"{self.where}: unexpected argument {words[0]!r}")

    def usage(self) -> str:
        lines = [f"usage: {self.prog} [flags] {' '.join(p.dest.upper() for p in self.positionals)}".rstrip()]
        if self.description:
            lines.append(self.description)
        for option in self.ordered:
            if option.help != SUPPRESS:
                lines.append(f"  {', '.join(option.names):<28} {option.help}")
        if self.subparsers is not None:
            lines.append("commands:")
            lines.extend(f"  {name:<12} {text}" for name, text in self.subparsers.helps.items())
        return "\n".join(lines) + "\n"


class Subparsers:
    """The verbs; each has its own Parser, and only the one named on the command line parses."""

    def __init__(self, parent: Parser, dest: str) -> None:
        self.parent = parent
        self.dest = dest
        self.parsers: dict[str, Parser] = {}
        self.helps: dict[str, str] = {}

    def add_parser(self, name: str, help: str = "", **_: Any) -> Parser:
        parser = Parser(f"{self.parent.prog} {name}", help)
        self.parsers[name] = parser
        self.helps[name] = help
        return parser

    def parse(self, verb: str, rest: list[str], values: dict[str, Any]) -> None:
        parser = self.parsers.get(verb)
        if parser is None:
            raise errors.UsageError(f"unknown command {verb!r} (commands: {', '.join(self.parsers)})")
        values.update({o.dest: o.default for o in parser.ordered})
        values.update({p.dest: p.default for p in parser.positionals})
        values.update(parser.defaults)
        parser._parse_into(rest, values)
