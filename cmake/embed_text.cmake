# cmake -DIN=FILE -DOUT=FILE.c -DSYMBOL=NAME -P embed_text.cmake
# Writes OUT defining `const char NAME[]`: the bytes of the text file IN and
# a NUL, as hex numbers (like `xxd -i`: no escaping to get wrong, every
# byte kept).
foreach(var IN ITEMS IN OUT SYMBOL)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "embed_text.cmake: -D${var}= is required")
  endif()
endforeach()

file(READ "${IN}" hex HEX)
if(hex MATCHES "^(..)*00")
  message(FATAL_ERROR "${IN}: a NUL byte cannot be embedded in a C string")
endif()
string(REGEX REPLACE "(..)" "0x\\1," bytes "${hex}")
string(REPEAT "0x..," 12 line) # CMake's regex has no {n}
string(REGEX REPLACE "(${line})" "\\1\n    " bytes "${bytes}")

file(WRITE "${OUT}"
  "/* Generated from ${IN} by cmake/embed_text.cmake: edit that file. */\n"
  "extern const char ${SYMBOL}[];\n"
  "const char ${SYMBOL}[] = {\n"
  "    ${bytes}0x00};\n")
