# cmake -DIN=file -DOUT=file.c -DNAME=symbol -P embed.cmake
# Writes OUT defining `const char NAME[]`: the bytes of IN and a NUL.
file(READ "${IN}" hex HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
string(REPEAT "0x..," 12 line)
string(REGEX REPLACE "(${line})" "\\1\n    " bytes "${bytes}")
file(WRITE "${OUT}"
     "/* Generated from ${IN} by cmake/embed.cmake: do not edit. */\n"
     "extern const char ${NAME}[];\n"
     "const char ${NAME}[] = {\n    ${bytes}0x00};\n")
