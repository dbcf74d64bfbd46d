"""ocibundle: turn an OCI image (layout, archive, docker save archive or registry) into a runtime bundle.

Modules, one purpose each:
  errors      the ImageError tree (one line each)
  digest      digest parsing and hashing readers
  mediatypes  media type constants and what each means for unpacking
  limits      resource bounds for hostile input
  blobs       content-addressed blob store (an OCI layout's blobs/ dir, also the pull cache)
  sources     layout dir, OCI archive, docker-save archive: open blobs by digest
  reference   registry reference parsing
  auth        credentials from auth files, bearer/basic challenges
  registry    distribution API v2 client (http.client, lazy)
  resolve     index -> platform -> manifest -> config, every descriptor verified
  layer       decompression to a verified tar file (diffID checked before a single entry is applied)
  inroot      fd-relative path resolution confined to the rootfs
  apply       applying one tar layer: whiteouts, opaque dirs, type changes, hardlinks, metadata
  users       /etc/passwd and /etc/group parsing (pure)
  convert     PURE image config -> runtime config.json
  bundle      unpack orchestration: rootfs + config.json
  progress    terminal progress bars
  cli         `ocibundle` command line

This package never imports ociruntime.linux, ociruntime.process or ociruntime.cgroups.
"""
