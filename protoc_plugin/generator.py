"""CodeGeneratorRequest -> CodeGeneratorResponse: the plugin without its I/O."""

from __future__ import annotations

from google.protobuf import descriptor_pb2
from google.protobuf.compiler import plugin_pb2

from .model import GenerationError, TypeIndex, build_file
from .render import render

__all__ = ["generate"]

_FEATURES = (
    plugin_pb2.CodeGeneratorResponse.FEATURE_PROTO3_OPTIONAL
    | plugin_pb2.CodeGeneratorResponse.FEATURE_SUPPORTS_EDITIONS
)


def _protoc_version(request: plugin_pb2.CodeGeneratorRequest) -> str:
    if not request.HasField("compiler_version"):
        return "unknown"
    v = request.compiler_version
    return f"v{v.major}.{v.minor}.{v.patch}" + (f"-{v.suffix}" if v.suffix else "")


def generate(request: plugin_pb2.CodeGeneratorRequest) -> plugin_pb2.CodeGeneratorResponse:
    """Generate ``<name>_gorums.py`` for every requested file that has services.

    Never raises for bad input: problems go to ``response.error`` (protoc
    prints it and fails), one line per problem, each naming the file and,
    where there is one, the method. On error no file is returned.
    """
    response = plugin_pb2.CodeGeneratorResponse(
        supported_features=_FEATURES,
        minimum_edition=descriptor_pb2.EDITION_PROTO2,
        maximum_edition=descriptor_pb2.EDITION_2024,
    )
    if request.parameter:
        response.error = (
            f"unknown parameter {request.parameter!r}: protoc-gen-gorums_py takes no options "
            "(use --gorums_py_out=DIR without 'opt:' or --gorums_py_opt)")
        return response
    by_name = {f.name: f for f in request.proto_file}
    types = TypeIndex(request.proto_file)
    version = _protoc_version(request)
    problems: list[str] = []
    files: list[plugin_pb2.CodeGeneratorResponse.File] = []
    for name in request.file_to_generate:
        fdp = by_name.get(name)
        if fdp is None:
            problems.append(f"{name}: not in the request's proto_file list")
            continue
        if not fdp.service:
            continue
        try:
            model = build_file(fdp, types)
        except GenerationError as exc:
            problems += exc.problems
            continue
        files.append(plugin_pb2.CodeGeneratorResponse.File(
            name=model.output_name, content=render(model, protoc_version=version)))
    if problems:
        response.error = "\n".join(problems)
    else:
        response.file.extend(files)
    return response
