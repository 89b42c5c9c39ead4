"""The function shim: what runs inside a function's container, on every platform.

Stdlib only, Python >= 3.8 (the analysis image's own ``python3``, started as
``python3 -I -S``): this package is shipped as a zipapp in a thin layer on the
pinned analysis image and must neither install nor import anything the image
has. The host imports the same modules, so the parameters and result documents,
the invocation key, URI redaction, digests and the invocation crate are each
defined once.

Modules: ``documents`` (parameters, result, triggers), ``key``, ``redact``
(the secrets policy), ``digests``, ``jsonld`` (the JSON-LD pieces every crate
shares), ``http`` (a small urllib client), ``storage`` (stage and verify inputs,
upload outputs), ``command`` (run the recorded command), ``crate`` (the
invocation's Process Run Crate), ``invoke`` (one call, start to end), ``server``
(OpenWhisk ``/init`` + ``/run``, plain HTTP and CloudEvents), ``__main__``
(serve, OSCAR, a plain command line, probe).
"""

SHIM_VERSION = "1"
