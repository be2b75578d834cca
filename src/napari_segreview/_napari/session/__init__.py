"""The napari side of review sessions: autosave a viewer's corrections, restore them.

``controller``  :class:`~.controller.SessionController`, binding layers to a session
``registry``    the open sessions of this process (:func:`~.registry.controller_for`)
``reader``      napari's session reader, :func:`~.reader.create_session`, :func:`~.reader.attach`
``widget``      the Review session dock widget
``_dirty``      what is left to save (chunks, whole layers, states, the image display)
``_autosave``   the timer and the single writer thread
``_guard``      the window-close guard and its one dialog
``_records``    layers as JSON records and back (no Qt)
"""
