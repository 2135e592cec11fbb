# Writes OUTPUT: a C++ source defining `std::span<const TYPE> NAMESPACE::FUNCTION()` that holds
# every file of DIR matching GLOB as {file name, text}, in name order, so the binary carries them
# (the migrations, the web pages' templates and stylesheet). TYPE is declared in HEADER. Run at
# build time; reruns when a file changes.
file(GLOB files LIST_DIRECTORIES false "${DIR}/${GLOB}")
list(SORT files)
set(body "")
foreach(f ${files})
  get_filename_component(name ${f} NAME)
  file(READ ${f} text)
  string(APPEND body "    {\"${name}\", R\"tlsrpt_embed(${text})tlsrpt_embed\"},\n")
endforeach()
file(WRITE ${OUTPUT}.tmp "// Generated from ${DIR}/${GLOB} by cmake/EmbedFiles.cmake. Do not edit.\n#include \"${HEADER}\"\n\nnamespace ${NAMESPACE} {\n\nstd::span<const ${TYPE}> ${FUNCTION}() {\n  static const ${TYPE} list[] = {\n${body}  };\n  return list;\n}\n\n}  // namespace ${NAMESPACE}\n")
file(COPY_FILE ${OUTPUT}.tmp ${OUTPUT} ONLY_IF_DIFFERENT)
