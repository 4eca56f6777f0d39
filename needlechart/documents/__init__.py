"""Issued documents: PDFs of signed records (session notes, consents, aftercare sheets,
progress reports, discharge letters, the whole record), kept as issued with a checksum."""
