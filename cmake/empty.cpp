// Placeholder so that a stage with no sources yet still forms a library.
