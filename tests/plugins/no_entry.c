/* A shared object that is not a dsbroker plugin: no entry symbol. */
int no_entry_answer(void);
int no_entry_answer(void)
{
    return 42;
}
