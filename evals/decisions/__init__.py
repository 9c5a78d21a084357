"""The research behind the service's decisions (notebooks 01 and 03): the semantic cache's
designs and rule sets compared on labelled pairs, the coverage rules and question roles they
try, the wording probe, the blind sets and the calibration of the thresholds. The service's
own decisions live in ``rag_core.decisions``; nothing here is imported by it."""
