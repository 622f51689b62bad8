/**
 * Real-world shapes of Ansible inventories (YAML and INI), shared by
 * test/load/ansible-inventory.test.ts (compared with ansible-inventory --list) and
 * test/cli/inventory-convert.test.ts (converted to pvrun's format and loaded back).
 */

/** Real-world shapes of Ansible YAML inventories. */
export const CORPUS: Record<string, string> = {
  // The yaml inventory plugin's own documented example (ansible-core lib/ansible/plugins/inventory/yaml.py EXAMPLES)
  'plugin-example.yml': `
all: # keys must be unique, i.e. only one 'hosts' per group
    hosts:
        test1:
        test2:
            host_var: value
    vars:
        group_all_var: value
    children:   # key order does not matter, indentation does
        other_group:
            children:
                group_x:
                    hosts:
                        test5   # Note that one machine will work without a colon
                group_y:
                    hosts:
                        test6:  # So always use a colon
            vars:
                g2_var2: value3
            hosts:
                test4:
                    ansible_host: 127.0.0.1
        last_group:
            hosts:
                test1 # same host as above, additional group membership
            vars:
                group_last_var: value
`,
  // Ranges, host:port keys, pvrun's XAPI variables, PowerShell over ssh
  'ranges-and-xapi.yml': `
all:
  vars:
    ansible_user: root
    ntp: pool.ntp.org
  hosts:
    lonely.example.com:
  children:
    web:
      vars: { pvrun_pool: pool-a, http_port: 80 }
      hosts:
        web[01:03].example.com:
        web-10.example.com: { ansible_host: 10.0.0.10, ansible_port: 2222 }
    db:
      hosts:
        db-1:2200:
          ansible_ssh_private_key_file: ~/.ssh/db
          pvrun_vm: { pool: pool-b, uuid: 0f3e1c2a-5b6d-4e7f-8a9b-0c1d2e3f4a5b }
    windows:
      vars: { ansible_connection: ssh, ansible_shell_type: powershell, ansible_user: Administrator, pvrun_pool: pool-b }
      hosts:
        win-[a:c]:
`,
  // Top-level groups without 'all:', a parent group by children, WinRM hosts, group vars overridden by a deeper group
  'top-level-groups.yml': `
webservers:
  hosts:
    www1.example.com:
    www2.example.com: { ansible_host: 192.0.2.12 }
  vars:
    ansible_user: deploy
    tier: front
dbservers:
  hosts:
    db[08:10].example.com:
  vars:
    tier: back
winservers:
  hosts:
    dc01.example.com: { ansible_host: 192.0.2.50 }
  vars:
    ansible_connection: winrm
    ansible_winrm_scheme: https
    ansible_port: 5986
    ansible_user: Administrator
prod:
  children:
    webservers:
    dbservers:
    winservers:
  vars:
    env: production
    tier: unknown
`,
  // Deep nesting, a host in several groups with vars merged (later wins), stride and letter ranges, empty groups
  'nested.yml': `
all:
  children:
    europe:
      children:
        paris:
          hosts:
            node[0:10:5]:
              rack: r1
            app-x: { role: api, ansible_port: "2201" }
          vars: { dc: par1, ansible_user: ops }
        berlin:
          hosts:
            app-[y:z]:
          vars: { dc: ber1 }
      vars: { region: eu, ansible_user: admin, pvrun_pool: pool-a }
    api:
      hosts:
        app-x: { role: api-primary }
    empty_group:
    monitoring:
      children:
        europe:
`,
  // Ansible's INI format: a classic hosts file (ansible-core lib/ansible/plugins/inventory/ini.py)
  'hosts': `
# a classic hosts file
mail.example.com

[webservers]
foo.example.com http_port=80 maxRequestsPerChild=808
bar.example.com:2222 ansible_host=192.0.2.5 ansible_user="deploy user"
www[01:03].example.com

[dbservers]
one.example.com pvrun_vm="{'pool': 'pool-a', 'name_label': 'one'}"
two.example.com   # a comment

[windows]
win1 ansible_connection=winrm ansible_winrm_scheme=https

[webservers:vars]
ntp_server=ntp.atlanta.example.com
proxy=proxy.atlanta.example.com
pvrun_pool=pool-a

[prod:children]
webservers
dbservers

[all:vars]
ansible_user=root
debug=False
`,
  'prod.ini': `
[all:vars]
ansible_port=22
tier="none"

[app]
app-[a:c] ansible_user=app
app-d:2201 role=spare

[app:vars]
tier=app
pvrun_pool=pool-b
replicas=3

[db]
db[1:3] ansible_ssh_private_key_file=~/.ssh/db

[datacenter:children]
app
db

[datacenter:vars]
tier=dc
region='eu-west'
`,
};
