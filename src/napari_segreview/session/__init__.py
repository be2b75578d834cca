"""Crash-safe review sessions.

The folder format, the chunked store and the session object.
"""

from napari_segreview._util.lazy import attach

__getattr__, __dir__, __all__ = attach(
    __name__,
    {
        "export": ["ExportFile", "export_files", "file_stem", "read_export_file"],
        "format": [
            "FORMAT", "FORMAT_VERSION", "MIGRATIONS", "SESSION_FILE", "SUFFIX", "Changes",
            "LayerRecord", "LayerUpdate", "default_folder", "find_session", "full_update",
            "is_session", "session_folder", "timestamp", "upgrade",
        ],
        "session": ["Session"],
        "store": [
            "CHUNK_BYTES", "Key", "all_keys", "chunk_name", "chunk_shape_for", "chunk_slices",
            "grid_shape", "keys_of_atom", "keys_of_indices", "keys_of_slices", "parse_chunk_name",
            "read_npz", "remove_files", "write_npz",
        ],
    },
)
