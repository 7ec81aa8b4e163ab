"""What to generate for one .proto file, checked before any code is written.

:func:`build_file` turns a ``FileDescriptorProto`` (from protoc's
``CodeGeneratorRequest``) into a :class:`FileModel`: services, methods with
their gorums call type, message references, import list, type aliases and
the names the generated module binds. Every problem (bad option combination,
streaming misuse, clashing generated names) is collected and raised together
as one :class:`GenerationError` naming the file and the method.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from google.protobuf import descriptor_pb2

from gorums_h2._calltype import OPTIONS, CallType
from gorums_h2._calltype import classify as call_type_of_options
from gorums_h2.pb import gorums_pb2

from . import naming

__all__ = [
    "Alias",
    "CallType",
    "FileModel",
    "GenerationError",
    "MessageRef",
    "Method",
    "Service",
    "TypeIndex",
    "build_file",
    "classify",
]

# FileDescriptorProto.service = 6, ServiceDescriptorProto.method = 2
_SERVICE_FIELD = 6
_METHOD_FIELD = 2

class GenerationError(Exception):
    """The request cannot be generated; ``problems`` lists every reason."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


def classify(method: descriptor_pb2.MethodDescriptorProto) -> CallType:
    """The call type selected by a method's ``gorums.*`` options (the
    runtime's table, :mod:`gorums_h2._calltype`).

    Raises ValueError (a :class:`CallTypeError`, saying why) for two
    call-type options, client streaming, or server streaming without
    ``gorums.quorumcall``. An option set to ``false`` counts as absent, as in
    the runtime.
    """
    opts = method.options
    chosen = [name for name in OPTIONS if opts.Extensions[getattr(gorums_pb2, name)]]
    return call_type_of_options(chosen, client_streaming=method.client_streaming,
                                server_streaming=method.server_streaming)


@dataclass(frozen=True, slots=True)
class MessageRef:
    """A message type as the generated module names it."""

    full_name: str  # proto name without the leading dot: "proto.ReadRequest"
    proto_file: str  # the file that defines it: "storage.proto"
    py_path: str  # attribute path in its _pb2 module: "ReadRequest", "Outer.Inner"

    @property
    def module_alias(self) -> str:
        return naming.module_alias(self.proto_file)

    @property
    def expr(self) -> str:
        """Python expression for the class: ``storage__pb2.ReadRequest``."""
        return f"{self.module_alias}.{self.py_path}"

    @property
    def stem(self) -> str:
        """Short name for aliases: ``ReadRequest``, ``Outer_Inner`` for nested types."""
        return self.py_path.replace(".", "_")


class TypeIndex:
    """Every message type of the request's files, by full proto name."""

    def __init__(self, files: Iterable[descriptor_pb2.FileDescriptorProto]) -> None:
        self._types: dict[str, MessageRef] = {}
        for f in files:
            prefix = f"{f.package}." if f.package else ""
            self._add(f.name, prefix, "", f.message_type)

    def _add(
        self,
        file: str,
        proto_prefix: str,
        py_prefix: str,
        messages: Iterable[descriptor_pb2.DescriptorProto],
    ) -> None:
        for msg in messages:
            full = proto_prefix + msg.name
            py_path = py_prefix + msg.name
            self._types[full] = MessageRef(full, file, py_path)
            self._add(file, full + ".", py_path + ".", msg.nested_type)

    def lookup(self, type_name: str) -> MessageRef:
        """Resolve a descriptor's ``.pkg.Msg`` type name; KeyError if unknown."""
        return self._types[type_name.removeprefix(".")]


@dataclass(frozen=True, slots=True)
class Method:
    name: str  # proto name: "ReadQC"
    full_name: str  # "proto.Storage.ReadQC", as the wire and the runtime name it
    py_name: str  # "read_qc": client function and server method name
    call_type: CallType
    request: MessageRef
    response: MessageRef
    comment: str  # leading proto comment, dedented; "" if none


@dataclass(frozen=True, slots=True)
class Service:
    name: str
    full_name: str
    comment: str
    methods: tuple[Method, ...]
    protocol_name: str  # "StorageServer"
    register_name: str  # "register_storage_server"


@dataclass(frozen=True, slots=True)
class Alias:
    name: str  # "ReadResponseAsync"
    generic: str  # "Async" or "Correctable"
    message: MessageRef


@dataclass(frozen=True, slots=True)
class FileModel:
    proto_name: str
    output_name: str
    module_alias: str  # the file's own _pb2 alias
    services: tuple[Service, ...]
    aliases: tuple[Alias, ...]
    imports: tuple[str, ...]  # proto files whose _pb2 module is imported, in import order
    abc_names: tuple[str, ...]  # from collections.abc import ...
    typing_names: tuple[str, ...]  # from typing import ...
    own_module_used: bool  # False: the own _pb2 import only registers descriptors

    @property
    def exported(self) -> list[str]:
        """The names of ``__all__``, sorted as ruff's RUF022 wants (isort style)."""
        names = [a.name for a in self.aliases]
        for svc in self.services:
            names += [m.py_name for m in svc.methods]
            names += [svc.protocol_name, svc.register_name]
        return sorted(names, key=lambda n: (0 if n.isupper() else 1 if n[0].isupper() else 2, n))


def _comments(fdp: descriptor_pb2.FileDescriptorProto) -> dict[tuple[int, ...], str]:
    out: dict[tuple[int, ...], str] = {}
    for loc in fdp.source_code_info.location:
        text = loc.leading_comments or loc.trailing_comments
        if text:
            out[tuple(loc.path)] = clean_comment(text)
    return out


def clean_comment(text: str) -> str:
    """Dedent a protoc comment, strip trailing spaces and surrounding blank lines."""
    lines = [line.rstrip() for line in textwrap.dedent(text).splitlines()]
    return "\n".join(lines).strip("\n")


class _Names:
    """The module-level names a generated file binds, with who binds them."""

    def __init__(self, file: str, output: str, problems: list[str]) -> None:
        self._file = file
        self._output = output
        self._owners: dict[str, str] = {}
        self._problems = problems

    def claim(self, name: str, owner: str) -> None:
        other = self._owners.get(name)
        if other is None:
            self._owners[name] = owner
            return
        self._problems.append(
            f"{self._file}: generated name {name!r} in {self._output} would be both "
            f"{other} and {owner}; rename one of them in the .proto file")


def build_file(fdp: descriptor_pb2.FileDescriptorProto, types: TypeIndex) -> FileModel:
    """Check ``fdp`` and describe its generated module; GenerationError on any problem."""
    problems: list[str] = []
    file = fdp.name
    output = naming.output_name(file)
    own_alias = naming.module_alias(file)
    comments = _comments(fdp)
    names = _Names(file, output, problems)
    pkg = f"{fdp.package}." if fdp.package else ""

    services: list[Service] = []
    for si, sdp in enumerate(fdp.service):
        svc_full = pkg + sdp.name
        methods: list[Method] = []
        for mi, mdp in enumerate(sdp.method):
            full = f"{svc_full}.{mdp.name}"
            try:
                call_type = classify(mdp)
            except ValueError as exc:
                problems.append(f"{file}: method {full}: {exc}")
                continue
            try:
                request = types.lookup(mdp.input_type)
                response = types.lookup(mdp.output_type)
            except KeyError as exc:  # protoc resolves types; only a broken request gets here
                problems.append(f"{file}: method {full}: unknown message type {exc}")
                continue
            py_name = naming.safe_identifier(naming.snake_case(mdp.name))
            names.claim(py_name, f"the client function of method {full}")
            methods.append(Method(
                name=mdp.name,
                full_name=full,
                py_name=py_name,
                call_type=call_type,
                request=request,
                response=response,
                comment=comments.get((_SERVICE_FIELD, si, _METHOD_FIELD, mi), ""),
            ))
        svc = Service(
            name=sdp.name,
            full_name=svc_full,
            comment=comments.get((_SERVICE_FIELD, si), ""),
            methods=tuple(methods),
            protocol_name=f"{sdp.name}Server",
            register_name=f"register_{naming.snake_case(sdp.name)}_server",
        )
        names.claim(svc.protocol_name, f"the server Protocol of service {svc_full}")
        names.claim(svc.register_name, f"the registration function of service {svc_full}")
        services.append(svc)

    all_methods = [m for s in services for m in s.methods]
    aliases = _aliases(all_methods)
    for alias in aliases:
        names.claim(alias.name, f"the {alias.generic} type alias of {alias.message.full_name}")

    # Modules: the file's own (always: importing it registers the service
    # descriptors the runtime looks methods up in), request types, and the
    # response types of calls that return them.
    used = {m.request.proto_file for m in all_methods}
    used |= {m.response.proto_file for m in all_methods if not m.call_type.one_way}
    imports = tuple(sorted(used | {file}, key=naming.module_name))
    for imp in imports:
        names.claim(naming.module_alias(imp), f"the import of {naming.module_name(imp)}")

    kinds = {m.call_type for m in all_methods}
    abc_names = []
    if CallType.QUORUMCALL_STREAM in kinds:
        abc_names += ["Awaitable", "Callable"]
    if kinds & {CallType.MULTICAST, CallType.QUORUMCALL, CallType.QUORUMCALL_STREAM}:
        abc_names.append("Sequence")
    typing_names = []
    if CallType.MULTICAST in kinds:
        typing_names.append("Any")
    typing_names.append("Protocol")
    if aliases:
        typing_names.append("TypeAlias")
    for name in [*abc_names, *typing_names]:
        names.claim(name, "a name imported from collections.abc/typing")
    names.claim("gorums_h2", "the gorums_h2 import")
    names.claim("annotations", "the 'from __future__ import annotations' name")
    names.claim("__all__", "the module's __all__")

    if problems:
        raise GenerationError(problems)
    return FileModel(
        proto_name=file,
        output_name=output,
        module_alias=own_alias,
        services=tuple(services),
        aliases=tuple(aliases),
        imports=imports,
        abc_names=tuple(abc_names),
        typing_names=tuple(typing_names),
        own_module_used=file in used,
    )


def _aliases(methods: Sequence[Method]) -> list[Alias]:
    """Async and Correctable aliases, one per distinct quorum-call response type.

    Named after the message (``ReadResponseAsync``); if two different
    messages share a short name, both use their full proto name instead
    (``google_protobuf_EmptyAsync``).
    """
    responses: list[MessageRef] = []
    for m in methods:
        if m.call_type.quorum and m.response not in responses:
            responses.append(m.response)
    stems: dict[str, list[MessageRef]] = {}
    for ref in responses:
        stems.setdefault(ref.stem, []).append(ref)
    out: list[Alias] = []
    for ref in responses:
        stem = ref.stem if len(stems[ref.stem]) == 1 else ref.full_name.replace(".", "_")
        out.append(Alias(f"{stem}Async", "Async", ref))
        out.append(Alias(f"{stem}Correctable", "Correctable", ref))
    return out
