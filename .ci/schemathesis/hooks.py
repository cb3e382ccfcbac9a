"""schemathesis hooks for .ci/schemathesis/run.sh.

The fuzzer authenticates with one admin key; if it revoked, deactivated or re-scoped that key
(PATCH/DELETE /auth/keys/{id} with the key's own id) every later request would be a 401 and the
rest of the run would test nothing. Those two calls are redirected to a key id that does not exist
(a 404); every other id is tested as generated.
"""

import os

import schemathesis

PROTECTED_KEY_ID = int(os.environ.get("AIOPS_FUZZ_KEY_ID", "0"))


@schemathesis.hook
def before_call(context, case, kwargs):
    if (
        case.operation.path == "/auth/keys/{id}"
        and case.method.upper() in ("PATCH", "DELETE")
        and case.path_parameters is not None
        and str(case.path_parameters.get("id")) == str(PROTECTED_KEY_ID)
    ):
        case.path_parameters["id"] = PROTECTED_KEY_ID + 1_000_000
