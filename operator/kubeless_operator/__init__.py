"""The Function operator: Kubeless ``Function`` resources become running functions.

Layers go one way: :mod:`handlers` (kopf) feed :mod:`queueing`, whose workers call
:mod:`reconciling`, which uses the pure :mod:`builders` and :mod:`statuses` and the
thin Kubernetes client wrapper in :mod:`clients`.
"""
