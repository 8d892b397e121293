"""Reading by content: document-type specs, value formats, the MRZ, and layout-free field assignment."""
