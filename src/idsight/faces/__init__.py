"""Faces: curation of face training data (streaming class centres and filters).

Modules (imports point one way: ``curate`` -> ``centres`` -> ``store``, and ``curate`` -> ``report``):

* :mod:`idsight.faces.store`: the on-disk embedding store (:class:`~idsight.faces.store.EmbeddingStore`,
  :class:`~idsight.faces.store.EmbeddingWriter`), memory-mapped and read in chunks, checked on opening;
* :mod:`idsight.faces.centres`: streaming class centres and each row's cosine to its own centre
  (:func:`~idsight.faces.centres.class_centres`, :func:`~idsight.faces.centres.similarities`), sharded with
  :func:`~idsight.faces.centres.shard_range` and :func:`~idsight.faces.centres.torch_all_reduce`;
* :mod:`idsight.faces.curate`: the filters and the equalisation (:func:`~idsight.faces.curate.curate`,
  :func:`~idsight.faces.curate.recurate`);
* :mod:`idsight.faces.report`: the outcome and its files (:class:`~idsight.faces.report.Curation`, the
  stages, the manifest and report, :func:`~idsight.faces.report.load_curation`,
  :func:`~idsight.faces.report.plot_histograms`).
"""
