"""The mandate: the controller's signed instruction to the processor (GDPR Art. 28(3)(a)).

Only what the controller signed ever leaves the source (default deny). A
mandate is a YAML file checked against ``airlock/schemas/mandate.schema.json``
and the canonical model, signed by the controller and countersigned by the
processor (detached ``.sig.json``), immutable once signed and changed only by a
numbered amendment that names its predecessor's digest. docs/mandate.md
explains every key.

>>> from pathlib import Path
>>> m = load_mandate(Path(__file__).parents[3] / "examples" / "mandate.yaml")
>>> m.scope.entities["result"].transformations["validator"]
<Transformation.PSEUDONYMISE: 'pseudonymise'>
>>> len(m.digest)
64
"""

from airlock.mandate.document import (
    Channel,
    Controller,
    DateRange,
    Delivery,
    EntityScope,
    FreeTextPolicy,
    Mandate,
    Person,
    Processor,
    Scope,
    SubProcessor,
    System,
    TestCodes,
    Transformation,
    load_mandate,
)
from airlock.mandate.errors import MandateError
from airlock.mandate.signatures import (
    Signature,
    SignedMandate,
    amendment,
    check_amendment,
    read_signatures,
    sign_mandate,
    signature_path,
    verify_mandate,
)
from airlock.signing import BadSignature

__all__ = [
    "BadSignature", "Channel", "Controller", "DateRange", "Delivery", "EntityScope", "FreeTextPolicy", "Mandate",
    "MandateError", "Person", "Processor", "Scope", "Signature", "SignedMandate", "SubProcessor", "System",
    "TestCodes", "Transformation", "amendment", "check_amendment", "load_mandate", "read_signatures",
    "sign_mandate", "signature_path", "verify_mandate",
]
