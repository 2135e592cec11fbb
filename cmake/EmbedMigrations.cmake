# Writes OUTPUT: a C++ source holding every migrations/*.sql as {name, sql}, in name order, so
# the binary carries its schema. Run at build time; reruns when a migration changes.
file(GLOB files LIST_DIRECTORIES false "${MIGRATIONS_DIR}/*.sql")
list(SORT files)
set(body "")
foreach(f ${files})
  get_filename_component(name ${f} NAME)
  file(READ ${f} sql)
  string(APPEND body "    {\"${name}\", R\"tlsrpt_sql(${sql})tlsrpt_sql\"},\n")
endforeach()
file(WRITE ${OUTPUT}.tmp "// Generated from migrations/*.sql by cmake/EmbedMigrations.cmake. Do not edit.\n#include \"store/migrations.hpp\"\n\nnamespace tlsrpt::store {\n\nstd::span<const Migration> migrations() {\n  static const Migration list[] = {\n${body}  };\n  return list;\n}\n\n}  // namespace tlsrpt::store\n")
file(COPY_FILE ${OUTPUT}.tmp ${OUTPUT} ONLY_IF_DIFFERENT)
